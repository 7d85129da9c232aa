//! Text output in columns, as Heroku's CLI prints its tables.

/// Prints rows as left-aligned columns two spaces apart.
pub fn table(rows: &[Vec<String>]) {
    let widths = widths(rows);
    for row in rows {
        print_row(row, &widths);
    }
}

/// The width of each column of `rows`, in characters.
pub fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect()
}

pub fn print_row(row: &[String], widths: &[usize]) {
    let line = row
        .iter()
        .zip(widths)
        .map(|(cell, width)| format!("{cell:<width$}"))
        .collect::<Vec<_>>()
        .join("  ");
    println!("{}", line.trim_end());
}
