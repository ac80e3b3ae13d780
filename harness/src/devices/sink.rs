//! Where a character device's output goes: the host's standard output, a file, memory, or
//! nowhere. A host write error never changes what the guest sees (the device stays "ready");
//! the first one is kept for the machine to report.

use std::fs::File;
use std::io::{BufWriter, Write};

/// A byte sink for serial and debug-console output.
#[derive(Debug, Default)]
pub enum SerialSink {
    /// The host's standard output.
    Stdout,
    /// A host file.
    File(BufWriter<File>),
    /// Memory, for tests and for traces.
    Buffer(Vec<u8>),
    /// Discard everything.
    #[default]
    None,
}

impl SerialSink {
    /// A sink that collects bytes in memory.
    pub fn buffer() -> Self {
        Self::Buffer(Vec::new())
    }

    /// Writes one byte; returns the host error, if any.
    pub fn write_byte(&mut self, byte: u8) -> std::io::Result<()> {
        match self {
            Self::Stdout => std::io::stdout().write_all(&[byte]),
            Self::File(f) => f.write_all(&[byte]),
            Self::Buffer(v) => {
                v.push(byte);
                Ok(())
            }
            Self::None => Ok(()),
        }
    }

    /// Flushes host buffers.
    pub fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Stdout => std::io::stdout().flush(),
            Self::File(f) => f.flush(),
            Self::Buffer(_) | Self::None => Ok(()),
        }
    }

    /// The collected bytes of a [`SerialSink::Buffer`].
    pub fn contents(&self) -> Option<&[u8]> {
        match self {
            Self::Buffer(v) => Some(v),
            _ => None,
        }
    }
}

/// A sink plus the first host error it met, and an optional tap: a copy of what is written
/// while it is on, whatever the sink ([`crate::Machine::run_until`] watches output with it).
#[derive(Debug, Default)]
pub struct CharOut {
    sink: SerialSink,
    error: Option<std::io::ErrorKind>,
    tap: Option<Vec<u8>>,
}

impl CharOut {
    /// Output to `sink`.
    pub fn new(sink: SerialSink) -> Self {
        Self { sink, error: None, tap: None }
    }

    /// Writes one byte, remembering the first host error.
    pub fn put(&mut self, byte: u8) {
        if let Some(tap) = &mut self.tap {
            tap.push(byte);
        }
        if let Err(e) = self.sink.write_byte(byte) {
            self.error.get_or_insert(e.kind());
        }
    }

    /// The sink.
    pub fn sink(&self) -> &SerialSink {
        &self.sink
    }

    /// Takes the sink out (flushed), leaving [`SerialSink::None`].
    pub fn take_sink(&mut self) -> SerialSink {
        self.flush();
        std::mem::take(&mut self.sink)
    }

    /// Starts (`true`, empty) or stops the tap.
    pub fn set_tap(&mut self, on: bool) {
        self.tap = on.then(Vec::new);
    }

    /// What was written since the tap started (empty when it is off).
    pub fn tapped(&self) -> &[u8] {
        self.tap.as_deref().unwrap_or_default()
    }

    /// Flushes the sink, remembering the first host error.
    pub fn flush(&mut self) {
        if let Err(e) = self.sink.flush() {
            self.error.get_or_insert(e.kind());
        }
    }

    /// The first host error met while writing, if any.
    pub fn error(&self) -> Option<std::io::ErrorKind> {
        self.error
    }
}
