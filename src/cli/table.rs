//! The one shape of every listing: a header row in capitals, then one row per item, columns
//! left-aligned and two spaces apart, an empty cell written "-" (so every column has text
//! where it starts, for `cut`, `awk` and eyes), the last column unpadded. Colour (a cell's
//! style, the header in bold) only when `colour` is asked, which the commands take from
//! `output::colour_stdout` (a terminal, not under `NO_COLOR`). An empty listing prints no
//! header: the command says "no ..." instead.

use anstyle::Style;

/// One cell: its text, and the style it is painted in on a terminal.
pub struct Cell {
    text: String,
    style: Option<Style>,
}

impl Cell {
    /// `text` painted in `style` on a terminal.
    pub fn styled(text: impl Into<String>, style: Style) -> Cell {
        Cell {
            text: text.into(),
            style: Some(style),
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, style: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

/// A listing being built: `Table::new(&["ID", "NAME"])`, `row(...)` per item, `print()`.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row: one cell per header column (missing cells are empty, extra ones dropped).
    pub fn row(&mut self, cells: impl IntoIterator<Item = Cell>) {
        let mut cells: Vec<Cell> = cells.into_iter().collect();
        cells.resize_with(self.header.len(), || Cell::from(""));
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending in a newline; nothing when empty.
    pub fn render(&self, colour: bool) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let shown = |cell: &Cell| -> String {
            // One line per row: a cell never breaks it, and never looks empty.
            let text = cell.text.replace(['\n', '\r', '\t'], " ");
            if text.trim().is_empty() {
                "-".to_string()
            } else {
                text
            }
        };
        let texts: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(shown).collect())
            .collect();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &texts {
            for (width, text) in widths.iter_mut().zip(row) {
                *width = (*width).max(text.chars().count());
            }
        }
        let last = self.header.len() - 1;
        let mut out = String::new();
        let bold = Style::new().bold();
        let mut line = |cells: Vec<(&str, Option<Style>)>| {
            for (column, (text, style)) in cells.into_iter().enumerate() {
                out.push_str(&match style {
                    Some(style) => super::output::paint(text, style, colour),
                    None => text.to_string(),
                });
                if column < last {
                    let pad = widths[column] - text.chars().count() + 2;
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        };
        line(self.header.iter().map(|h| (*h, Some(bold))).collect());
        for (row, texts) in self.rows.iter().zip(&texts) {
            line(
                row.iter()
                    .zip(texts)
                    .map(|(cell, text)| (text.as_str(), cell.style))
                    .collect(),
            );
        }
        out
    }

    /// Prints the table on stdout, in colour on a terminal.
    pub fn print(&self) {
        print!("{}", self.render(super::output::colour_stdout()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_empty_cells_show_a_dash_and_the_last_column_is_not_padded() {
        let mut table = Table::new(&["ID", "NAME", "NOTE"]);
        table.row(["a1".into(), "grafana".into(), "read only".into()]);
        table.row(["b".into(), "".into(), "x\ny".into()]);
        assert_eq!(
            table.render(false),
            "ID  NAME     NOTE\n\
             a1  grafana  read only\n\
             b   -        x y\n"
        );
        assert_eq!(Table::new(&["ID", "NAME"]).render(false), "");
    }

    #[test]
    fn colour_paints_the_header_and_styled_cells_and_pads_outside_the_codes() {
        let mut table = Table::new(&["STATE", "ID"]);
        let red = Style::new().fg_color(Some(anstyle::AnsiColor::Red.into()));
        table.row([Cell::styled("firing", red), "x".into()]);
        assert_eq!(
            table.render(true),
            "\u{1b}[1mSTATE\u{1b}[0m   \u{1b}[1mID\u{1b}[0m\n\
             \u{1b}[31mfiring\u{1b}[0m  x\n"
        );
    }
}
