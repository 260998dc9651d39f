//! The values a key can hold.

use bytes::Bytes;

pub enum Value {
    Str(Bytes),
}

impl Value {
    /// The name TYPE and SCAN TYPE use.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }
}
