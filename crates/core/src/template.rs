//! Message templates with `{variable}` placeholders, checked when they are written: an
//! unknown variable or an unbalanced brace is an error the editor shows at once, so a broken
//! message never reaches a customer. `{{` and `}}` stand for literal braces.

use std::fmt::Write;

use crate::storage::invoices::LineItem;
use crate::Money;

/// The variables an invoice message may use.
pub const INVOICE_VARIABLES: &[&str] = &[
    "items", "amount", "link", "expires", "order", "customer", "shop",
];

/// The invoice message a shop starts with.
pub const DEFAULT_INVOICE: &str =
    "Your order: {items}. Total: {amount}. Pay here: {link}. Link expires in 48 hours.";

/// Why a template was refused. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A placeholder names no known variable.
    #[error("{{{name}}} at character {at} is not a variable here; use one of {allowed}")]
    Unknown {
        /// The name written.
        name: String,
        /// Where it starts.
        at: usize,
        /// The variables allowed, as `{a}, {b}`.
        allowed: String,
    },
    /// A `{` that is never closed.
    #[error("the {{ at character {at} is never closed; write {{{{ for a brace in the text")]
    Unclosed {
        /// Where it is.
        at: usize,
    },
    /// A `}` with no `{` before it.
    #[error("the }} at character {at} closes nothing; write }}}} for a brace in the text")]
    Stray {
        /// Where it is.
        at: usize,
    },
    /// Nothing to send.
    #[error("the message is empty")]
    Empty,
    /// The invoice message must say what is charged and carry the link.
    #[error("the invoice message must contain {{{0}}}: the customer sees the items, the total and the pay link in it")]
    Missing(&'static str),
}

/// Variables every invoice message carries: the items and quantities, the total, the link.
pub const INVOICE_REQUIRED: &[&str] = &["items", "amount", "link"];

/// Checks an invoice message: known variables only, and the items, the total and the link.
pub fn parse_invoice(text: &str) -> Result<Template, TemplateError> {
    let t = Template::parse(text, INVOICE_VARIABLES)?;
    let used = t.variables();
    if let Some(missing) = INVOICE_REQUIRED.iter().find(|v| !used.contains(v)) {
        return Err(TemplateError::Missing(missing));
    }
    Ok(t)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(&'static str),
}

/// A checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Checks `text` against the `allowed` variables.
    pub fn parse(text: &str, allowed: &[&'static str]) -> Result<Self, TemplateError> {
        if text.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, n)| *n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, n)| *n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::Stray { at: i + 1 }),
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, n) in chars.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        if n == '{' {
                            break;
                        }
                        name.push(n);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed { at: i + 1 });
                    }
                    let var = allowed.iter().find(|v| **v == name.trim()).ok_or_else(|| {
                        TemplateError::Unknown {
                            name: name.clone(),
                            at: i + 1,
                            allowed: allowed
                                .iter()
                                .map(|v| format!("{{{v}}}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        }
                    })?;
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(var));
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    /// The variables the template uses, in order of first use.
    pub fn variables(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for p in &self.parts {
            if let Part::Var(v) = p {
                if !out.contains(v) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// Fills the template; `value` gives each variable's text.
    pub fn render(&self, value: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => out.push_str(&value(v)),
            }
        }
        out
    }
}

/// What an invoice message says.
#[derive(Debug, Clone)]
pub struct InvoiceMessage<'a> {
    /// The line items.
    pub items: &'a [LineItem],
    /// Shipping in minor units (0: none).
    pub shipping_minor: i64,
    /// Currency of the items, shipping and total.
    pub currency: &'a str,
    /// The total the customer pays.
    pub total_minor: i64,
    /// The pay link.
    pub link: &'a str,
    /// When the link expires, as the customer reads it.
    pub expires: &'a str,
    /// The invoice number.
    pub order: i64,
    /// The customer's name (or phone).
    pub customer: &'a str,
    /// The shop's name.
    pub shop: &'a str,
}

impl InvoiceMessage<'_> {
    /// The text of `{items}`: "Hydrating cream $120, 2 × Silk scarf (M) $180, shipping $8".
    pub fn items_text(&self) -> String {
        let mut out = String::new();
        for item in self.items {
            if !out.is_empty() {
                out.push_str(", ");
            }
            if item.qty != 1 {
                let _ = write!(out, "{} × ", item.qty);
            }
            out.push_str(&item.name);
            if let Some(v) = item.variant.as_deref().filter(|v| !v.is_empty()) {
                let _ = write!(out, " ({v})");
            }
            let line = Money::new(item.unit_minor.saturating_mul(item.qty), self.currency);
            let _ = write!(out, " {}", line.display());
        }
        if self.shipping_minor > 0 {
            let shipping = Money::new(self.shipping_minor, self.currency).display();
            let _ = write!(out, ", shipping {shipping}");
        }
        out
    }

    /// Renders `template` with this invoice.
    pub fn render(&self, template: &Template) -> String {
        template.render(|var| match var {
            "items" => self.items_text(),
            "amount" => Money::new(self.total_minor, self.currency).display(),
            "link" => self.link.to_string(),
            "expires" => self.expires.to_string(),
            "order" => format!("#{}", self.order),
            "customer" => self.customer.to_string(),
            "shop" => self.shop.to_string(),
            _ => String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, variant: Option<&str>, qty: i64, unit_minor: i64) -> LineItem {
        LineItem {
            sku: name.to_uppercase(),
            name: name.into(),
            variant: variant.map(Into::into),
            qty,
            unit_minor,
        }
    }

    fn order(items: &[LineItem], shipping_minor: i64) -> InvoiceMessage<'_> {
        let total_minor = items.iter().map(|i| i.unit_minor * i.qty).sum::<i64>() + shipping_minor;
        InvoiceMessage {
            items,
            shipping_minor,
            currency: "USD",
            total_minor,
            link: "https://pay.example/abc",
            expires: "Nov 28, 3:00 PM",
            order: 4821,
            customer: "Ana",
            shop: "Glow Bar",
        }
    }

    #[test]
    fn the_default_reads_as_the_customer_expects() {
        let t = Template::parse(DEFAULT_INVOICE, INVOICE_VARIABLES).unwrap();
        let items = [item("Hydrating cream", None, 1, 12_000)];
        assert_eq!(
            order(&items, 800).render(&t),
            "Your order: Hydrating cream $120, shipping $8. Total: $128. Pay here: \
             https://pay.example/abc. Link expires in 48 hours."
        );
    }

    #[test]
    fn amounts_have_thousands_separators_and_cents_only_when_needed() {
        let t = Template::parse(
            "{amount} for {order} from {shop} to {customer}, until {expires}",
            INVOICE_VARIABLES,
        )
        .unwrap();
        let items = [
            item("Silk scarf", Some("M"), 2, 45_000),
            item("Leather bag", None, 1, 34_050),
        ];
        let msg = order(&items, 0);
        assert_eq!(
            msg.render(&t),
            "$1,240.50 for #4821 from Glow Bar to Ana, until Nov 28, 3:00 PM"
        );
        assert_eq!(
            msg.items_text(),
            "2 × Silk scarf (M) $900, Leather bag $340.50"
        );
    }

    #[test]
    fn unknown_variables_and_broken_braces_are_refused_with_where() {
        let err = Template::parse("Total: {amount}. Pay at {url}", INVOICE_VARIABLES).unwrap_err();
        assert_eq!(
            err,
            TemplateError::Unknown {
                name: "url".into(),
                at: 25,
                allowed: "{items}, {amount}, {link}, {expires}, {order}, {customer}, {shop}".into()
            }
        );
        assert!(err
            .to_string()
            .starts_with("{url} at character 25 is not a variable here"));
        assert_eq!(
            Template::parse("Pay {link", INVOICE_VARIABLES),
            Err(TemplateError::Unclosed { at: 5 })
        );
        assert_eq!(
            Template::parse("Pay } now", INVOICE_VARIABLES),
            Err(TemplateError::Stray { at: 5 })
        );
        assert_eq!(
            Template::parse("  ", INVOICE_VARIABLES),
            Err(TemplateError::Empty)
        );
    }

    #[test]
    fn doubled_braces_are_literal_and_variables_are_listed_once() {
        let t = Template::parse("{{code}} {amount} {amount} {link}", INVOICE_VARIABLES).unwrap();
        assert_eq!(t.variables(), vec!["amount", "link"]);
        let items = [item("Cream", None, 1, 100)];
        assert_eq!(
            order(&items, 0).render(&t),
            "{code} $1 $1 https://pay.example/abc"
        );
    }
}
