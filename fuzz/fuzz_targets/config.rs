//! Fuzz target `config`: any text through the path `lookout config check` takes. Parse and
//! validate (`config::from_str`); then, for an accepted config, the summary and each check's
//! target line that `config check` prints; for a rejected one, the error text (every problem
//! with file:line:column and its source line). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::config;

/// `${NAME}`: a few variables are set (one empty, one holding what TOML and the reader must
/// not trip over), the rest are unset.
fn env(name: &str) -> Option<String> {
    match name {
        "SET" => Some("value".to_string()),
        "EMPTY" => Some(String::new()),
        "PORT" => Some("9898".to_string()),
        "ODD" => Some("é\u{0}\"\\\n${SET}'''".to_string()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    // `config::load` reads the file with `read_to_string`: a file that is not UTF-8 never
    // reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::from_str(text, "fuzz.toml", &env) {
        Ok(config) => {
            let _ = lookout::views::config::summary(&config);
            for check in &config.checks {
                let _ = check.kind.target();
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
