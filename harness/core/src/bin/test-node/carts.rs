//! A single-node cart store that keeps the cart API's promise: an add is written to an
//! append-only file in the data directory and synced to disk before it is acknowledged, and
//! the file is replayed on start. A kill loses nothing that was acknowledged.
//!
//! `--ack-before-write` breaks the promise on purpose: adds are acknowledged from memory and
//! flushed every [`FLUSH_EVERY`], the way a write-back cache does. A SIGKILL then loses the
//! last fraction of a second of acknowledged adds, which is what the "no acknowledged write
//! lost" checker must catch.
//!
//! One mutex around the file and the map keeps it obviously correct; a production store
//! would batch syncs (group commit) to serve more than a few hundred adds per second.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use node_kit::ApiError;
use node_kit::cart::{AddItem, Cart, CartService};
use node_kit::sync::Mutex;
use serde::{Deserialize, Serialize};

/// How long an acknowledged add may sit in memory with `--ack-before-write`.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// One line of the log file.
#[derive(Serialize, Deserialize)]
struct Entry {
    cart: String,
    request_id: String,
    item: String,
}

#[derive(Clone)]
pub struct Carts(Arc<Mutex<Inner>>);

struct Inner {
    carts: HashMap<String, Vec<String>>,
    file: File,
    /// Acknowledged but not yet written (only with `--ack-before-write`).
    unwritten: Vec<Entry>,
    ack_before_write: bool,
}

impl Carts {
    /// Opens (and replays) `<dir>/carts.log`.
    pub fn open(dir: &Path, ack_before_write: bool) -> Result<Carts, String> {
        let path = dir.join("carts.log");
        let mut carts: HashMap<String, Vec<String>> = HashMap::new();
        if let Ok(existing) = File::open(&path) {
            for line in BufReader::new(existing).lines() {
                let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                // A torn last line (killed mid-write) was never acknowledged: skip it.
                if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
                    carts.entry(entry.cart).or_default().push(entry.item);
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let store = Carts(Arc::new(Mutex::new(Inner {
            carts,
            file,
            unwritten: Vec::new(),
            ack_before_write,
        })));
        if ack_before_write {
            let flusher = store.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(FLUSH_EVERY).await;
                    let inner = flusher.0.clone();
                    let _ = tokio::task::spawn_blocking(move || inner.lock().flush()).await;
                }
            });
        }
        Ok(store)
    }
}

impl Inner {
    fn write(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut bytes, entry).expect("an entry serialises");
            bytes.push(b'\n');
        }
        self.file.write_all(&bytes)?;
        self.file.sync_data()
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let entries = std::mem::take(&mut self.unwritten);
        self.write(&entries)
    }

    fn cart(&self, cart: &str) -> Cart {
        Cart {
            cart: cart.to_string(),
            items: self.carts.get(cart).cloned().unwrap_or_default(),
        }
    }
}

impl CartService for Carts {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut inner = inner.lock();
            let entry = Entry {
                cart: cart.clone(),
                request_id: add.request_id,
                item: add.item,
            };
            let item = entry.item.clone();
            if inner.ack_before_write {
                inner.unwritten.push(entry);
            } else {
                inner
                    .write(&[entry])
                    .map_err(|e| ApiError::internal(format!("cannot persist the add: {e}")))?;
            }
            inner.carts.entry(cart.clone()).or_default().push(item);
            Ok(inner.cart(&cart))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        Ok(self.0.lock().cart(&cart))
    }
}
