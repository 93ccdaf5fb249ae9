//! How a command prints its result: `table` for people (fitted to the terminal), `json` for
//! programs (the API's JSON), `compact` for shell pipes (one tab-separated line per row).

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Compact,
}

/// Rows with named columns; `json` is what `-o json` prints.
pub struct Rendered {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub json: Value,
    /// One object's fields: printed as `field  value` lines, without a header.
    pub record: bool,
}

impl Rendered {
    /// A one-object result shown as `field  value` lines.
    pub fn record(fields: Vec<(&'static str, String)>, json: Value) -> Self {
        Self {
            columns: vec!["FIELD", "VALUE"],
            rows: fields
                .into_iter()
                .map(|(k, v)| vec![k.to_owned(), v])
                .collect(),
            json,
            record: true,
        }
    }

    pub fn print(&self, output: Output) {
        match output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&self.json).unwrap_or_default()
            ),
            Output::Compact => {
                for row in &self.rows {
                    println!("{}", row.join("\t"));
                }
            }
            Output::Table if self.record => {
                let width = self.rows.iter().map(|r| chars(&r[0])).max().unwrap_or(0);
                for row in &self.rows {
                    println!("{:<width$}  {}", row[0], row[1]);
                }
            }
            Output::Table => print!("{}", table(&self.columns, &self.rows, terminal_width())),
        }
    }
}

/// `$COLUMNS` when the shell exports it, else 120.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w: &usize| *w >= 40)
        .unwrap_or(120)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn cut(s: &str, width: usize) -> String {
    if chars(s) <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Columns padded to their widest cell; the widest columns are cut (with `…`) until the
/// table fits `width`, except columns of ids (copied into the next command). An empty result
/// says so.
pub fn table(columns: &[&str], rows: &[Vec<String>], width: usize) -> String {
    if rows.is_empty() {
        return "(none)\n".to_owned();
    }
    let mut widths: Vec<usize> = columns.iter().map(|c| chars(c)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(chars(cell.lines().next().unwrap_or_default()));
        }
    }
    let ids: Vec<bool> = (0..columns.len())
        .map(|i| rows.iter().all(|r| uuid::Uuid::parse_str(&r[i]).is_ok()))
        .collect();
    let gaps = 2 * columns.len().saturating_sub(1);
    while widths.iter().sum::<usize>() + gaps > width {
        let Some((widest, w)) = widths
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| !ids[*i])
            .max_by_key(|(_, w)| *w)
        else {
            break;
        };
        if w <= 8 {
            break;
        }
        widths[widest] = w - 1;
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:<w$}", cut(c.lines().next().unwrap_or_default(), *w)))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(columns.iter().map(|c| (*c).to_owned()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_fits_its_width_by_cutting_the_widest_column() {
        let rows = vec![vec![
            "0190a7c4-1111-7000-8000-00000000abcd".to_owned(),
            "https://example.com/a/very/long/path/that/does/not/fit/anywhere".to_owned(),
        ]];
        let text = table(&["ID", "URL"], &rows, 60);
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        assert!(text.contains('…'));
        assert!(
            text.contains("0190a7c4-1111-7000-8000-00000000abcd"),
            "ids are whole"
        );
        assert!(text.starts_with("ID "));
        assert_eq!(table(&["ID"], &[], 60), "(none)\n");
    }
}
