//! Never a wrong total: however a message was read, every number the customer wrote must be
//! placed — a quantity the reader used, part of a size or a product's name, a price of the
//! catalog, part of the address, a date or a time, or chat shorthand ("2" for "to") — before
//! an invoice goes out. A number nothing placed, a quantity above the shop's limit, or a
//! price the customer named that is not the product's, and the bot restates the order and
//! asks ("Just to check — 2 × Vitamin C serum (30ml) $128, shipping $6: $134 in all. Is that
//! right?") instead of guessing. A handoff or a question is always acceptable; a wrong total
//! never is.

use crate::catalog::Catalog;

use super::text::{quantity, words};

/// The quantity above which the bot checks with the customer, unless the owner set another.
pub const DEFAULT_MAX_QTY: i64 = 10;

/// Whether `t` is a number as a customer writes one: digits somewhere in it, a price, or a
/// number word ("two", "dos", "docena"). "a"/"una" are articles here, not numbers.
pub fn is_number(t: &str) -> bool {
    t.chars().any(|c| c.is_ascii_digit())
        || (quantity(t).is_some() && !super::text::is_article(t) && t != "pair")
}

/// A number word above ten at the start of `w` ("eleven", "twenty five", "veintidós",
/// "treinta y cinco", "a hundred"): its value and how many words it took.
fn big_number(w: &[String]) -> Option<(i64, usize)> {
    let unit = |t: &str| -> Option<i64> {
        Some(match t {
            "one" | "uno" | "un" | "una" => 1,
            "two" | "dos" => 2,
            "three" | "tres" => 3,
            "four" | "cuatro" => 4,
            "five" | "cinco" => 5,
            "six" | "seis" => 6,
            "seven" | "siete" => 7,
            "eight" | "ocho" => 8,
            "nine" | "nueve" => 9,
            _ => return None,
        })
    };
    let single = |t: &str| -> Option<i64> {
        Some(match t {
            "eleven" | "once" => 11,
            "twelve" | "doce" => 12,
            "thirteen" | "trece" => 13,
            "fourteen" | "catorce" => 14,
            "fifteen" | "quince" => 15,
            "sixteen" | "dieciseis" => 16,
            "seventeen" | "diecisiete" => 17,
            "eighteen" | "dieciocho" => 18,
            "nineteen" | "diecinueve" => 19,
            "veintiuno" | "veintiun" | "veintiuna" => 21,
            "veintidos" => 22,
            "veintitres" => 23,
            "veinticuatro" => 24,
            "veinticinco" => 25,
            "veintiseis" => 26,
            "veintisiete" => 27,
            "veintiocho" => 28,
            "veintinueve" => 29,
            "hundred" | "cien" | "ciento" => 100,
            _ => return None,
        })
    };
    let tens = |t: &str| -> Option<i64> {
        Some(match t {
            "twenty" | "veinte" => 20,
            "thirty" | "treinta" => 30,
            "forty" | "cuarenta" => 40,
            "fifty" | "cincuenta" => 50,
            "sixty" | "sesenta" => 60,
            "seventy" | "setenta" => 70,
            "eighty" | "ochenta" => 80,
            "ninety" | "noventa" => 90,
            _ => return None,
        })
    };
    let first = super::text::fold(w.first()?);
    if matches!(first.as_str(), "a" | "one") && w.get(1).is_some_and(|t| t == "hundred") {
        return Some((100, 2));
    }
    if let Some(n) = single(&first) {
        return Some((n, 1));
    }
    let t = tens(&first)?;
    match (w.get(1).map(String::as_str), w.get(2).map(String::as_str)) {
        (Some("y"), Some(u)) if unit(u).is_some() => Some((t + unit(u)?, 3)),
        (Some(u), _) if unit(u).is_some() && !matches!(u, "un" | "una") => Some((t + unit(u)?, 2)),
        _ => Some((t, 1)),
    }
}

/// Rewrites the number phrases of `w` as one number each, so the rest of the reader sees
/// "2 hibiscus" for "a couple of hibiscus" and "6 syrups" for "half a dozen syrups". Vague
/// amounts ("a few", "unos cuantos") become `?`, which nothing places.
pub fn normalize(w: Vec<String>) -> Vec<String> {
    const PHRASES: &[(&[&str], &str)] = &[
        (&["half", "a", "dozen"], "6"),
        (&["half", "dozen"], "6"),
        (&["media", "docena", "de"], "6"),
        (&["media", "docena"], "6"),
        (&["a", "dozen"], "12"),
        (&["una", "docena", "de"], "12"),
        (&["una", "docena"], "12"),
        (&["a", "couple", "of"], "2"),
        (&["a", "couple"], "2"),
        (&["couple", "of"], "2"),
        (&["couple"], "2"),
        (&["a", "pair", "of"], "2"),
        (&["pair", "of"], "2"),
        (&["un", "par", "de"], "2"),
        (&["un", "par"], "2"),
        (&["par", "de"], "2"),
        (&["a", "few"], "?"),
        (&["few"], "?"),
        (&["several"], "?"),
        (&["some"], "?"),
        (&["unos", "cuantos"], "?"),
        (&["unas", "cuantas"], "?"),
        (&["varios"], "?"),
        (&["varias"], "?"),
        (&["algunos"], "?"),
        (&["algunas"], "?"),
    ];
    let mut out: Vec<String> = Vec::with_capacity(w.len());
    let mut i = 0;
    'outer: while i < w.len() {
        for (phrase, number) in PHRASES {
            if w.len() >= i + phrase.len() && phrase.iter().zip(&w[i..]).all(|(p, t)| p == t) {
                out.push((*number).to_string());
                i += phrase.len();
                continue 'outer;
            }
        }
        // Number words above ten become digits: "twenty five" → "25", "treinta y dos" → "32",
        // "quince" → "15" (so nothing above ten slips past the reader or the limit).
        if let Some((n, len)) = big_number(&w[i..]) {
            out.push(n.to_string());
            i += len;
            continue;
        }
        // "de 6 tazas", "d 6 tazas" → "de 6 cup"; "20 onzas" → "20oz" (sizes as variants say).
        let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
        if digits(&w[i]) {
            if let Some(unit) = w.get(i + 1) {
                let oz = matches!(
                    unit.as_str(),
                    "onzas" | "onsas" | "onza" | "ounces" | "ounce"
                );
                let cups = matches!(unit.as_str(), "tazas" | "taza" | "cups")
                    && i > 0
                    && matches!(w[i - 1].as_str(), "de" | "d" | "of");
                if oz {
                    out.push(format!("{}oz", w[i]));
                    i += 2;
                    continue;
                }
                if cups {
                    out.push(w[i].clone());
                    out.push("cup".into());
                    i += 2;
                    continue;
                }
            }
        }
        // "x 2" → "x2" (the quantity after a product).
        if w[i] == "x"
            && w.get(i + 1)
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        {
            out.push(format!("x{}", w[i + 1]));
            i += 2;
            continue;
        }
        out.push(w[i].clone());
        i += 1;
    }
    out
}

/// A quantity written after a product: "x4", "4x", "× 4", "4 packs", "2 bolsas".
pub fn quantity_word_after(t: &str, next: Option<&str>) -> Option<i64> {
    if let Some(d) = t.strip_prefix('x') {
        return d.parse().ok().filter(|n| *n > 0 && d.len() <= 3);
    }
    let n = quantity(t).filter(|_| !super::text::is_article(t))?;
    if t.ends_with('x') {
        return Some(n);
    }
    let unit = next?;
    UNITS.contains(&unit).then_some(n)
}

/// Words for "one of" a product: "4 packs", "2 bolsas", "3 units".
pub const UNITS: &[&str] = &[
    "pack", "packs", "bag", "bags", "bottle", "bottles", "box", "boxes", "unit", "units", "piece",
    "pieces", "pcs", "jar", "jars", "can", "cans", "pouch", "pouches", "bolsa", "bolsas",
    "paquete", "paquetes", "unidad", "unidades", "botella", "botellas", "caja", "cajas", "frasco",
    "frascos", "piezas",
];

/// Words after which "2" or "4" is "to" or "for" in chat ("want 2 order", "4 my mom").
const SHORTHAND_NEXT: &[&str] = &[
    "my", "me", "mi", "u", "you", "him", "her", "us", "them", "order", "buy", "get", "ship",
    "send", "pay", "be", "go", "see", "check", "ask", "pick", "try", "know",
];

/// Why a number at `i` needs no placing: part of a size or a product's name, a catalog price,
/// a date or a time, or chat shorthand. `None`: it must be placed by the reader.
pub fn explained(
    w: &[String],
    i: usize,
    catalog: &Catalog,
    currency: &str,
) -> Option<&'static str> {
    let t = w[i].as_str();
    // Part of a variant or a product's name: "16oz", "6 cup", "SPF 50".
    let in_phrase = |phrase: &str| {
        let pw = words(phrase);
        pw.iter().enumerate().any(|(k, p)| {
            p == t && i >= k && w.len() >= i - k + pw.len() && w[i - k..i - k + pw.len()] == pw[..]
        })
    };
    let sizes = catalog.catalog.iter().any(|p| {
        p.variants.iter().any(|v| in_phrase(v))
            || in_phrase(&p.name)
            || p.aliases.iter().any(|a| in_phrase(a))
    });
    if sizes {
        return Some("size");
    }
    if let Some(price) = t.strip_prefix('$') {
        let cents = crate::Money::parse(price, currency);
        let known = catalog.catalog.iter().any(|p| {
            Some(p.price_cents) == cents || p.deposit_cents.is_some() && p.deposit_cents == cents
        });
        return known.then_some("price");
    }
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    let suffix = &t[digits.len()..];
    if !digits.is_empty()
        && matches!(
            suffix,
            "st" | "nd" | "rd" | "th" | "am" | "pm" | "h" | "hrs" | "o" | "ro" | "do" | "to"
        )
    {
        return Some("date or time");
    }
    let prev = i.checked_sub(1).map(|p| w[p].as_str());
    let next = w.get(i + 1).map(String::as_str);
    if !digits.is_empty()
        && suffix.is_empty()
        && (matches!(
            prev,
            Some("at" | "las" | "la" | "around" | "before" | "after" | "by")
        ) || matches!(next, Some("pm" | "am" | "o'clock" | "oclock")))
    {
        return Some("date or time");
    }
    const MONTHS: &[&str] = &[
        "jan",
        "january",
        "feb",
        "february",
        "mar",
        "march",
        "apr",
        "april",
        "may",
        "jun",
        "june",
        "jul",
        "july",
        "aug",
        "august",
        "sep",
        "sept",
        "september",
        "oct",
        "october",
        "nov",
        "november",
        "dec",
        "december",
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    if !digits.is_empty()
        && (prev.is_some_and(|p| MONTHS.contains(&p))
            || next.is_some_and(|n| MONTHS.contains(&n))
            || (next == Some("de") && w.get(i + 2).is_some_and(|n| MONTHS.contains(&n.as_str()))))
    {
        return Some("date or time");
    }
    if matches!(t, "2" | "4") && next.is_some_and(|n| SHORTHAND_NEXT.contains(&n)) {
        return Some("shorthand");
    }
    None
}

/// The numbers of `w` that neither the reader (`used`: indices it read a quantity from) nor
/// [`explained`] placed, as the customer wrote them.
pub fn unplaced(w: &[String], used: &[usize], catalog: &Catalog, currency: &str) -> Vec<String> {
    w.iter()
        .enumerate()
        .filter(|(i, t)| {
            (is_number(t) || t.as_str() == "?")
                && !used.contains(i)
                && explained(w, *i, catalog, currency).is_none()
        })
        .map(|(_, t)| {
            if t == "?" {
                "an amount like \"a few\"".to_string()
            } else {
                t.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<String> {
        normalize(words(text))
    }

    #[test]
    fn number_phrases_become_numbers() {
        assert_eq!(w("half a dozen guava syrups"), ["6", "guava", "syrups"]);
        assert_eq!(w("un par de siropes"), ["2", "siropes"]);
        assert_eq!(w("couple bags of tea"), ["2", "bags", "of", "tea"]);
        assert_eq!(w("mugs x 3"), ["mugs", "x3"]);
        assert_eq!(w("unos cuantos filtros"), ["?", "filtros"]);
    }

    #[test]
    fn number_words_above_ten_become_digits() {
        assert_eq!(w("twenty chamomile teas"), ["20", "chamomile", "teas"]);
        assert_eq!(w("twenty five mugs"), ["25", "mugs"]);
        assert_eq!(w("treinta y dos tazas"), ["32", "tazas"]);
        assert_eq!(w("quince filtros"), ["15", "filtros"]);
        assert_eq!(w("veintidós siropes"), ["22", "siropes"]);
        assert_eq!(w("a hundred filters"), ["100", "filters"]);
    }

    #[test]
    fn quantities_after_a_product() {
        assert_eq!(quantity_word_after("x4", None), Some(4));
        assert_eq!(quantity_word_after("2x", None), Some(2));
        assert_eq!(quantity_word_after("4", Some("packs")), Some(4));
        assert_eq!(quantity_word_after("dos", Some("bolsas")), Some(2));
        assert_eq!(quantity_word_after("4", Some("my")), None);
        assert_eq!(quantity_word_after("a", Some("bag")), None);
    }
}
