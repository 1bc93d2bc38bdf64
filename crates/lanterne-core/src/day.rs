//! Dates kept to the day: the only time lanterne records (a manifest's `received`, the server's
//! retention ledger), so that no record says when in the day a source came.

/// The UTC day `offset` days from today, `YYYY-MM-DD`.
pub fn utc(offset: i64) -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(offset);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
