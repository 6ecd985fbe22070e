//! The "Ready to ship" board: orders by stage, and moving one.

use tauri::State;
use ziflow_core::storage::invoices;
use ziflow_protocol as dto;
use ziflow_protocol::ErrorCode;
use ziflow_protocol::Money;

use crate::commands::relay;
use crate::error::Result;
use crate::state::AppState;

/// Paid orders on the fulfilment board.
#[tauri::command]
pub async fn list_ship_board(state: State<'_, AppState>) -> Result<Vec<dto::ShipCard>> {
    let shop = state.session().shop.uid.clone();
    let rows = invoices::on_board(&state.db, &shop).await?;
    // Two queries for the whole board, never one per card.
    let mut items_of = invoices::items_by_invoice(&state.db, &shop, true).await?;
    let mut cards = Vec::with_capacity(rows.len());
    for inv in rows {
        let items = items_of.remove(&inv.id).unwrap_or_default();
        cards.push(dto::ShipCard {
            order_id: inv.id,
            invoice_number: inv.number,
            stage: inv.fulfilment_stage.unwrap_or_default(),
            items: items
                .iter()
                .map(|it| match &it.variant {
                    Some(v) => format!("{} × {} ({v})", it.qty, it.name),
                    None => format!("{} × {}", it.qty, it.name),
                })
                .collect(),
            address: inv.address.unwrap_or_default(),
            amount: Money::new(inv.total_minor, inv.currency),
            paid_at: inv.paid_at.unwrap_or(inv.created_at),
        });
    }
    Ok(cards)
}

/// Moves a paid order on the Ready-to-ship board; to Shipped with `notify`, the customer is
/// told.
#[tauri::command]
pub async fn move_order(
    state: State<'_, AppState>,
    invoice_id: i64,
    stage: String,
    notify: bool,
) -> Result<()> {
    relay(
        &state,
        dto::Command::OrderMove {
            invoice_id,
            stage,
            notify,
        },
        ErrorCode::MoveRefused,
    )
    .await?;
    Ok(())
}
