//! Reading what customers write: accents folded, words split, numbers and number words,
//! near-miss spellings, addresses and places.

/// Lower case with accents folded (`¿Cuánto?` → `¿cuanto?`).
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            '’' | '‘' => '\'',
            other => other,
        })
        .collect()
}

/// The words of `text` (folded): letters, digits, `$`, `.` inside numbers, apostrophes.
/// "I'll take 2x $64 serums" → `i'll take 2x $64 serums`.
pub fn words(text: &str) -> Vec<String> {
    let folded = fold(text);
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = folded.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let keep = c.is_alphanumeric()
            || c == '$'
            || (c == '\'' && !cur.is_empty())
            || (c == '.'
                && cur.chars().last().is_some_and(|p| p.is_ascii_digit())
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()));
        if keep {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    // "50 ml" reads as one word, like "50ml".
    let mut joined: Vec<String> = Vec::with_capacity(out.len());
    for w in out {
        let unit = matches!(w.as_str(), "ml" | "oz" | "g" | "kg" | "l");
        match joined.last_mut() {
            Some(prev) if unit && prev.chars().all(|c| c.is_ascii_digit()) => prev.push_str(&w),
            _ => joined.push(w),
        }
    }
    joined
}

/// A quantity word or number: "2", "two", "dos", "a" (one), "una".
pub fn quantity(word: &str) -> Option<i64> {
    let n = match word {
        "a" | "an" | "one" | "uno" | "una" | "un" => 1,
        "two" | "dos" | "pair" => 2,
        "three" | "tres" => 3,
        "four" | "cuatro" => 4,
        "five" | "cinco" => 5,
        "six" | "seis" => 6,
        "seven" | "siete" => 7,
        "eight" | "ocho" => 8,
        "nine" | "nueve" => 9,
        "ten" | "diez" => 10,
        "dozen" | "docena" => 12,
        w => {
            let digits = w.strip_suffix('x').unwrap_or(w);
            if digits.is_empty() || digits.len() > 3 || !digits.chars().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            digits.parse().ok()?
        }
    };
    (n > 0).then_some(n)
}

/// Words that are only quantities when a number is meant ("a" is one item, not a letter).
pub fn is_article(word: &str) -> bool {
    matches!(word, "a" | "an" | "un" | "una" | "uno")
}

/// An article or "the" in either language.
pub fn is_article_or_the(word: &str) -> bool {
    is_article(word) || matches!(word, "the" | "el" | "la" | "los" | "las")
}

/// How a word sounds, roughly, in English and Spanish spelling: "c"/"k"/"qu" → k, "z" and
/// soft "c" → s, "v" → b, "ll"/"y" → y, silent "h" dropped, doubled letters once. "tasa" and
/// "taza", "mocka" and "moka", "konsentrado" and "concentrado" sound the same.
pub fn phonetic(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let mapped: &str = match (c, next) {
            ('q', Some('u')) => {
                i += 1;
                "k"
            }
            ('c', Some('e' | 'i')) => "s",
            ('c', Some('h')) => {
                i += 1;
                "ch"
            }
            ('c' | 'k' | 'q', _) => "k",
            ('z', _) => "s",
            ('v', _) => "b",
            ('l', Some('l')) => {
                i += 1;
                "y"
            }
            ('h', _) => "",
            ('p', Some('h')) => {
                i += 1;
                "f"
            }
            _ => {
                out.push(c);
                ""
            }
        };
        out.push_str(mapped);
        i += 1;
    }
    let mut dedup = String::new();
    for c in out.chars() {
        if !dedup.ends_with(c) {
            dedup.push(c);
        }
    }
    dedup
}

/// Edit distance that counts two swapped neighbours as one slip ("travle", "fliters").
pub fn slips(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// Whether a written word means the catalog word: equal, a plural, the same sound, or a near
/// miss for longer words (one slip from 5 letters, two from 9; swapped letters are one slip).
pub fn same_word(written: &str, catalog: &str) -> bool {
    if written == catalog {
        return true;
    }
    for plural in ["s", "es", "ed"] {
        if written.strip_suffix(plural) == Some(catalog) {
            return true;
        }
    }
    if catalog.chars().count() >= 4
        && !catalog.chars().any(|c| c.is_ascii_digit())
        && phonetic(written.strip_suffix('s').unwrap_or(written)) == phonetic(catalog)
    {
        return true;
    }
    let n = catalog.chars().count();
    let allowed = if n >= 9 {
        2
    } else if n >= 5 {
        1
    } else {
        0
    };
    allowed > 0
        && !catalog.chars().any(|c| c.is_ascii_digit())
        && slips(written, catalog) <= allowed
}

/// The USPS codes of the states.
const STATES: [&str; 51] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
];

/// Street words that mark an address ("18 Maple St.").
const STREET: [&str; 30] = [
    "st",
    "street",
    "ave",
    "av",
    "avenue",
    "blvd",
    "boulevard",
    "rd",
    "road",
    "dr",
    "drive",
    "ln",
    "lane",
    "way",
    "ct",
    "court",
    "pl",
    "place",
    "sq",
    "square",
    "pkwy",
    "parkway",
    "hwy",
    "highway",
    "ter",
    "terrace",
    "cir",
    "circle",
    "calle",
    "avenida",
];

/// Street words written before the name and number ("calle 5", "avenida Juárez 120").
const LEADING_STREET: [&str; 4] = ["calle", "avenida", "av", "carrera"];

/// A place: what a shipping zone is matched on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// The address as written (from its house number on).
    pub address: Option<String>,
    /// City, as written.
    pub city: Option<String>,
    /// USPS state code.
    pub state: Option<String>,
    /// 5-digit ZIP.
    pub zip: Option<String>,
}

impl Place {
    /// Nothing to match a zone on (an address with no city, state or ZIP is local).
    pub fn is_bare(&self) -> bool {
        self.city.is_none() && self.state.is_none() && self.zip.is_none()
    }
}

/// Finds a street address in `text`: a house number followed, within five words, by a street
/// word ("18 Maple St.", "1550 Blake St, Denver CO 80202", "calle 5"). Returns it with its
/// city, state and ZIP, and the text before it.
pub fn find_address(text: &str) -> Option<(Place, String)> {
    let mut tokens: Vec<(usize, &str)> = Vec::new();
    let mut from = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = from.take() {
                tokens.push((s, &text[s..i]));
            }
        } else if from.is_none() {
            from = Some(i);
        }
    }
    if let Some(s) = from {
        tokens.push((s, &text[s..]));
    }
    let bare = |t: &str| fold(t.trim_matches(|c: char| !c.is_alphanumeric()));
    let has_digit = |t: &str| t.chars().any(|c| c.is_ascii_digit());
    for (n, (start, tok)) in tokens.iter().enumerate() {
        // "calle 5 #10", "Avenida Juárez 120": the street word first, a number soon after.
        if LEADING_STREET.contains(&bare(tok).as_str())
            && tokens[n + 1..tokens.len().min(n + 4)]
                .iter()
                .any(|(_, t)| has_digit(t))
        {
            return Some(address_at(text, *start));
        }
        let number = tok.trim_matches(|c: char| !c.is_alphanumeric());
        if number.is_empty() || !number.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            continue;
        }
        if !number.chars().all(|c| c.is_ascii_alphanumeric()) || number.len() > 6 {
            continue;
        }
        let street = tokens[n + 1..tokens.len().min(n + 6)].iter().any(|(_, t)| {
            let w = fold(t.trim_matches(|c: char| !c.is_alphanumeric()));
            STREET.contains(&w.as_str())
        });
        if street {
            return Some(address_at(text, *start));
        }
    }
    None
}

/// The address that starts at byte `start` of `text`, and the text before it.
fn address_at(text: &str, start: usize) -> (Place, String) {
    let address = text[start..]
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .trim();
    let mut place = place_of(address);
    place.address = Some(address.to_string());
    (place, text[..start].to_string())
}

/// City, state and ZIP in a place written like "Denver CO 80202", "Boulder, CO",
/// "Colorado Springs, CO", "New York NY 10013" (the street part, if any, is skipped).
pub fn place_of(text: &str) -> Place {
    let mut place = Place::default();
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let mut city_words: Vec<String> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let words: Vec<&str> = part
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| !w.is_empty())
            .collect();
        let is_street = words
            .first()
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
            && words.iter().any(|w| STREET.contains(&fold(w).as_str()));
        let leading = words
            .first()
            .is_some_and(|w| LEADING_STREET.contains(&fold(w).as_str()));
        let words: Vec<&str> = if (is_street || leading) && i == 0 {
            // "1200 N Dale Mabry Hwy Tampa FL 33607": the place follows the street word.
            match words
                .iter()
                .rposition(|w| STREET.contains(&fold(w).as_str()) && is_street)
            {
                // Only when it names a state or a ZIP: "Apt 4" alone is no place.
                Some(k)
                    if words[k + 1..].iter().any(|w| {
                        (w.len() == 5 && w.chars().all(|c| c.is_ascii_digit()))
                            || (w.len() == 2 && STATES.contains(w))
                    }) =>
                {
                    words[k + 1..].to_vec()
                }
                _ => continue,
            }
        } else {
            words
        };
        let whole_part = words.len() == 1;
        let mut rest = Vec::new();
        for w in words {
            if w.len() == 5 && w.chars().all(|c| c.is_ascii_digit()) {
                place.zip = Some(w.to_string());
            } else if w.len() == 2
                && STATES.contains(&w.to_ascii_uppercase().as_str())
                && w.chars().all(|c| c.is_ascii_uppercase())
            {
                place.state = Some(w.to_string());
            } else if let (Some(code), true, true) = (state_named(w), i > 0, whole_part) {
                // "Denver, Colorado" — a state's name only when it stands alone.
                place.state = Some(code.to_string());
            } else {
                rest.push(w.to_string());
            }
        }
        if city_words.is_empty() && !rest.is_empty() {
            city_words = rest;
        }
    }
    if !city_words.is_empty() {
        place.city = Some(city_words.join(" "));
    }
    place
}

/// The state a 5-digit ZIP belongs to, by its first three digits (USPS ranges; territories
/// and military addresses have none).
pub fn zip_state(zip: &str) -> Option<&'static str> {
    if zip.len() != 5 || !zip.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let z: u32 = zip[..3].parse().ok()?;
    const RANGES: &[(u32, u32, &str)] = &[
        (10, 27, "MA"),
        (28, 29, "RI"),
        (30, 38, "NH"),
        (39, 49, "ME"),
        (50, 54, "VT"),
        (55, 55, "MA"),
        (56, 59, "VT"),
        (60, 69, "CT"),
        (70, 89, "NJ"),
        (100, 149, "NY"),
        (150, 196, "PA"),
        (197, 199, "DE"),
        (200, 205, "DC"),
        (206, 219, "MD"),
        (220, 246, "VA"),
        (247, 268, "WV"),
        (270, 289, "NC"),
        (290, 299, "SC"),
        (300, 319, "GA"),
        (320, 349, "FL"),
        (350, 369, "AL"),
        (370, 385, "TN"),
        (386, 397, "MS"),
        (398, 399, "GA"),
        (400, 427, "KY"),
        (430, 459, "OH"),
        (460, 479, "IN"),
        (480, 499, "MI"),
        (500, 528, "IA"),
        (530, 549, "WI"),
        (550, 567, "MN"),
        (569, 569, "DC"),
        (570, 577, "SD"),
        (580, 588, "ND"),
        (590, 599, "MT"),
        (600, 629, "IL"),
        (630, 658, "MO"),
        (660, 679, "KS"),
        (680, 693, "NE"),
        (700, 714, "LA"),
        (716, 729, "AR"),
        (730, 749, "OK"),
        (750, 799, "TX"),
        (800, 816, "CO"),
        (820, 831, "WY"),
        (832, 838, "ID"),
        (840, 847, "UT"),
        (850, 865, "AZ"),
        (870, 884, "NM"),
        (885, 885, "TX"),
        (889, 898, "NV"),
        (900, 961, "CA"),
        (967, 968, "HI"),
        (970, 979, "OR"),
        (980, 994, "WA"),
        (995, 999, "AK"),
    ];
    RANGES
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&z))
        .map(|(_, _, s)| *s)
}

fn state_named(word: &str) -> Option<&'static str> {
    match fold(word).as_str() {
        "colorado" => Some("CO"),
        "texas" => Some("TX"),
        "california" => Some("CA"),
        "florida" => Some("FL"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_accents_and_join_units() {
        assert_eq!(
            words("¿Cuánto cuesta la mascarilla?"),
            ["cuanto", "cuesta", "la", "mascarilla"]
        );
        assert_eq!(
            words("I'll take the 50 ml, $64.50!"),
            ["i'll", "take", "the", "50ml", "$64.50"]
        );
    }

    #[test]
    fn quantities_and_near_misses() {
        assert_eq!(quantity("four"), Some(4));
        assert_eq!(quantity("dos"), Some(2));
        assert_eq!(quantity("3"), Some(3));
        assert_eq!(quantity("2x"), Some(2));
        assert_eq!(quantity("80202"), None);
        assert!(same_word("sunscren", "sunscreen"));
        assert!(same_word("tints", "tint"));
        assert!(same_word("cleansers", "cleanser"));
        assert!(!same_word("mas", "mask"));
        assert!(!same_word("50", "30"));
    }

    #[test]
    fn addresses_with_and_without_city_state_zip() {
        let (p, before) = find_address("yes, 18 Maple St.").unwrap();
        assert_eq!(p.address.as_deref(), Some("18 Maple St"));
        assert!(p.is_bare());
        assert_eq!(before, "yes, ");
        let (p, _) = find_address("ship to 400 Pearl St, Boulder, CO 80302").unwrap();
        assert_eq!(
            (p.city.as_deref(), p.state.as_deref(), p.zip.as_deref()),
            (Some("Boulder"), Some("CO"), Some("80302"))
        );
        let (p, _) = find_address("77 Canal St, New York NY 10013").unwrap();
        assert_eq!(
            (p.city.as_deref(), p.state.as_deref()),
            (Some("New York"), Some("NY"))
        );
        let (p, _) = find_address("sí, la quiero. 900 Federal Blvd, Denver CO 80204").unwrap();
        assert_eq!(p.city.as_deref(), Some("Denver"));
        assert!(find_address("four lip tints in coral").is_none());
        assert!(find_address("I want the $64 serum in 50ml").is_none());
        let p = place_of("Colorado Springs, CO");
        assert_eq!(
            (p.city.as_deref(), p.state.as_deref()),
            (Some("Colorado Springs"), Some("CO"))
        );
    }
}
