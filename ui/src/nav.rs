//! Where the window is: the screens, and the contexts a screen uses to move to another one
//! (provided by the shell, `app::App`; screens read them without importing the shell).

use leptos::prelude::*;

/// The screens of the app, in sidebar order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Inbox,
    Invoices,
    ReadyToShip,
    Payments,
    Crm,
    Metrics,
    Agent,
    Settings,
}

impl Screen {
    pub const ALL: [Screen; 8] = [
        Screen::Inbox,
        Screen::Invoices,
        Screen::ReadyToShip,
        Screen::Payments,
        Screen::Crm,
        Screen::Metrics,
        Screen::Agent,
        Screen::Settings,
    ];

    /// The sidebar label.
    pub fn label(self) -> &'static str {
        match self {
            Screen::Inbox => "Inbox",
            Screen::Invoices => "Invoices",
            Screen::ReadyToShip => "Ready to ship",
            Screen::Payments => "Payments",
            Screen::Crm => "CRM",
            Screen::Metrics => "Metrics",
            Screen::Agent => "AI Agent",
            Screen::Settings => "Settings",
        }
    }

    /// Stable id for tests and accessibility (`nav-inbox`, `nav-ready-to-ship`, …).
    pub fn slug(self) -> &'static str {
        match self {
            Screen::Inbox => "inbox",
            Screen::Invoices => "invoices",
            Screen::ReadyToShip => "ready-to-ship",
            Screen::Payments => "payments",
            Screen::Crm => "crm",
            Screen::Metrics => "metrics",
            Screen::Agent => "agent",
            Screen::Settings => "settings",
        }
    }
}

/// Moving between screens from inside one (provided by the shell, `app::App`): the inbox's "Send pay
/// link" opens the invoice composer for its customer.
#[derive(Debug, Clone, Copy)]
pub struct Navigate {
    /// The screen showing.
    pub screen: WriteSignal<Screen>,
    /// The customer the composer should start with, once.
    pub compose_for: RwSignal<Option<String>>,
}

/// The order a clicked notification asked to show (provided by the shell, `app::App`).
#[derive(Debug, Clone, Copy)]
pub struct FocusedOrder(pub RwSignal<Option<i64>>);
