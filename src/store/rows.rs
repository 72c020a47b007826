//! Row helpers shared by the store's tables: typed and JSON columns, decode errors that name
//! the column, JSON encoding, SQL limits.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{Inner, StoreError};

pub(super) fn column<'r, T>(row: &'r SqliteRow, name: &str, inner: &Inner) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(name).map_err(|e| inner.db(e))
}

pub(super) fn json_column<T: DeserializeOwned>(
    row: &SqliteRow,
    name: &str,
    inner: &Inner,
) -> Result<T, StoreError> {
    let text: String = column(row, name, inner)?;
    serde_json::from_str(&text)
        .map_err(|e| decode_error(inner, name, format!("not the JSON Lookout writes: {e}")))
}

/// A nullable JSON column: `None` for NULL.
pub(super) fn json_opt_column<T: DeserializeOwned>(
    row: &SqliteRow,
    name: &str,
    inner: &Inner,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = column(row, name, inner)?;
    text.map(|text| {
        serde_json::from_str(&text)
            .map_err(|e| decode_error(inner, name, format!("not the JSON Lookout writes: {e}")))
    })
    .transpose()
}

pub(super) fn decode_error(inner: &Inner, column: &str, message: String) -> StoreError {
    inner.db(sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: message.into(),
    })
}

pub(super) fn to_json<T: Serialize + ?Sized>(
    value: &T,
    inner: &Inner,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| inner.db(sqlx::Error::Encode(Box::new(e))))
}

/// The JSON of a nullable column: NULL for `None`.
pub(super) fn opt_json<T: Serialize + ?Sized>(
    value: Option<&T>,
    inner: &Inner,
) -> Result<Option<String>, StoreError> {
    value.map(|value| to_json(value, inner)).transpose()
}

pub(super) fn sql_limit(limit: usize) -> i64 {
    limit.min(i64::MAX as usize) as i64
}
