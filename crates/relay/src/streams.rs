//! Open push streams per device: a device may hold at most [`MAX_STREAMS_PER_DEVICE`] at
//! once; each stream holds a [`StreamSlot`] that frees its place when the stream ends.

/// Push streams one device may hold open at once (a desk needs one; a few spare for a
/// reconnect racing the old connection's end). Over it: 429.
pub const MAX_STREAMS_PER_DEVICE: usize = 4;

/// Open push streams per device.
#[derive(Debug, Default)]
pub struct StreamSlots(std::sync::Mutex<std::collections::HashMap<i64, usize>>);

/// One open stream's place; frees it when the stream ends.
pub struct StreamSlot {
    slots: std::sync::Arc<StreamSlots>,
    device: i64,
}

impl StreamSlots {
    /// A place for one more stream of `device`, unless it already holds the most.
    pub fn take(self: &std::sync::Arc<Self>, device: i64) -> Option<StreamSlot> {
        let mut open = self.0.lock().ok()?;
        let n = open.entry(device).or_default();
        if *n >= MAX_STREAMS_PER_DEVICE {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            slots: self.clone(),
            device,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.slots.0.lock() {
            if let Some(n) = open.get_mut(&self.device) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&self.device);
                }
            }
        }
    }
}
