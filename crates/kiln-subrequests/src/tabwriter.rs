//! Column alignment as Go's `text/tabwriter` does it for the tables buildx prints
//! (`TARGET  DESCRIPTION`, `BUILD ARG  VALUE  DESCRIPTION`).
//!
//! Every cell but the last of a row is padded with spaces to the width of the widest cell in
//! its column plus `padding`; the last cell is written as is. Widths count Unicode scalar
//! values, as Go counts runes. Rows are expected to have the same number of cells (a shorter
//! row simply has fewer padded cells).

/// Formats `rows` into lines ending in `\n`.
pub fn format_table(rows: &[Vec<String>], padding: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + padding);
        }
    }
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let w = cell.chars().count();
                out.extend(std::iter::repeat_n(' ', widths[i].saturating_sub(w)));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn aligns_all_but_last_column() {
        let t = format_table(
            &[
                row(&["BUILD ARG", "VALUE", "DESCRIPTION"]),
                row(&["A", "1", "first"]),
                row(&["LONGER_NAME", "", ""]),
            ],
            3,
        );
        assert_eq!(
            t,
            "BUILD ARG     VALUE   DESCRIPTION\n\
             A             1       first\n\
             LONGER_NAME           \n"
        );
    }

    #[test]
    fn counts_runes_not_bytes() {
        let t = format_table(&[row(&["é", "x"]), row(&["ab", "y"])], 1);
        assert_eq!(t, "é  x\nab y\n");
    }

    #[test]
    fn empty_table() {
        assert_eq!(format_table(&[], 1), "");
    }
}
