//! What an import or export tells the person running it, on standard error (standard output
//! may be the export itself): on a terminal, a progress bar (indicatif: through the file, for an
//! import of a file; a live counter otherwise) with invalid rows printed above it; otherwise (a
//! script, CI), a plain line after each batch or page.

use std::{
    io::{BufRead, IsTerminal, Read},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use super::{FieldError, ImportReport};

pub struct Progress {
    /// The live counter, on a terminal.
    bar: Option<indicatif::ProgressBar>,
    /// Where the lines go instead of standard error, for tests.
    captured: Option<Arc<Mutex<Vec<String>>>>,
    /// How far through the input file an import is, when the bar shows it.
    read: Option<Arc<AtomicU64>>,
    started: Instant,
    label: String,
}

impl Progress {
    /// Progress of `label` (e.g. `import initiatives`): a live counter when standard error is
    /// a terminal and `interactive` allows it, plain lines otherwise.
    pub fn new(label: impl Into<String>, interactive: bool) -> Progress {
        let bar = (interactive && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix} {pos} rows ({per_sec}, {elapsed}) {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        let label = label.into();
        if let Some(bar) = &bar {
            bar.set_prefix(label.clone());
        }
        Progress {
            bar,
            captured: None,
            read: None,
            started: Instant::now(),
            label,
        }
    }

    /// Shows, on a terminal, how far through a file of `size` bytes the import is, as
    /// `reader` counts it.
    pub fn through_file(mut self, size: u64, reader: &CountingReader) -> Progress {
        if let Some(bar) = &self.bar {
            bar.set_length(size);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {percent:>3}% {msg} ({elapsed}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            self.read = Some(reader.read.clone());
        }
        self
    }

    /// Progress whose lines (those a script would see) are kept in the vector returned.
    pub fn captured(label: impl Into<String>) -> (Progress, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let progress = Progress {
            bar: None,
            captured: Some(lines.clone()),
            read: None,
            started: Instant::now(),
            label: label.into(),
        };
        (progress, lines)
    }

    fn line(&self, text: &str) {
        match (&self.bar, &self.captured) {
            (_, Some(lines)) => lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(text.to_owned()),
            (Some(bar), None) => bar.println(text),
            (None, None) => eprintln!("{text}"),
        }
    }

    /// One problem of one row: `row 12: countries[1]: "XX" is not …`.
    pub fn invalid(&self, row: u64, error: &FieldError) {
        self.line(&format!("row {row}: {}: {}", error.field, error.reason));
    }

    /// After each batch of an import.
    pub fn batch(&self, _kind: &str, report: &ImportReport, dry_run: bool) {
        let counts = counts(report, dry_run);
        match (&self.bar, &self.read) {
            (Some(bar), Some(read)) => {
                bar.set_position(read.load(Ordering::Relaxed));
                bar.set_message(format!("{} rows: {counts}", report.rows));
            }
            (Some(bar), None) => {
                bar.set_position(report.rows);
                bar.set_message(counts);
            }
            (None, _) => self.line(&format!("{}: {} rows read: {counts}", self.label, report.rows)),
        }
    }

    /// After each page of an export.
    pub fn exported(&self, written: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(written),
            None => self.line(&format!("{}: {written} written", self.label)),
        }
    }

    /// The summary line: how many of what, and how long it took.
    pub fn finish_import(&self, report: &ImportReport, dry_run: bool) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let mut summary = format!(
            "{}: {} rows: {} in {:.1} s",
            self.label,
            report.rows,
            counts(report, dry_run),
            self.started.elapsed().as_secs_f64()
        );
        if let Some(row) = report.stopped_at {
            summary.push_str(&format!("; stopped at row {row}, nothing written from its batch on"));
        }
        if dry_run {
            summary.push_str("; dry run, nothing written");
        }
        self.line_after_bar(&summary);
    }

    pub fn finish_export(&self, written: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let seconds = self.started.elapsed().as_secs_f64();
        self.line_after_bar(&format!("{}: {written} written in {seconds:.1} s", self.label));
    }

    fn line_after_bar(&self, text: &str) {
        match &self.captured {
            Some(_) => self.line(text),
            None => eprintln!("{text}"),
        }
    }
}

fn counts(report: &ImportReport, dry_run: bool) -> String {
    let created = if dry_run { "to create" } else { "created" };
    format!(
        "{} {created}, {} unchanged, {} invalid",
        report.created, report.unchanged, report.invalid
    )
}

/// An input that counts the bytes read from it, for the progress bar.
pub struct CountingReader {
    inner: Box<dyn BufRead + Send>,
    read: Arc<AtomicU64>,
}

impl CountingReader {
    pub fn new(inner: Box<dyn BufRead + Send>) -> CountingReader {
        CountingReader {
            inner,
            read: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Read for CountingReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let count = self.inner.read(buffer)?;
        self.read.fetch_add(count as u64, Ordering::Relaxed);
        Ok(count)
    }
}

impl BufRead for CountingReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.read.fetch_add(amount as u64, Ordering::Relaxed);
        self.inner.consume(amount);
    }
}
