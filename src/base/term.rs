//! Terminal colour: whether stdout or stderr should carry colour (a terminal; `NO_COLOR` turns
//! it off, `CLICOLOR_FORCE` on, as anstream reads them) and painting text in a style. Used by
//! the CLI's output and by the log's text format on stderr.

use anstyle::Style;

/// Whether stdout should carry colour.
pub fn colour_stdout() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// Whether stderr should carry colour (the logs).
pub fn colour_stderr() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// `text` in `style` when `colour`, else as it is.
pub fn paint(text: &str, style: Style, colour: bool) -> String {
    if colour {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}
