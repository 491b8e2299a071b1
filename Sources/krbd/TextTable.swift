// The one way the CLI prints columns (list, status, doctor, the exit-code table of --help).

/// Rows printed as columns two spaces apart, each as wide as its widest cell; trailing spaces
/// are dropped. `rightAligned` columns (numbers) are padded on the left.
func textTable(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    let columns = rows.map(\.count).max() ?? 0
    let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
    return rows.map { row in
        var line = ""
        for (column, cell) in row.enumerated() {
            let pad = String(repeating: " ", count: widths[column] - cell.count)
            if column > 0 { line += "  " }
            line += rightAligned.contains(column) ? pad + cell : cell + pad
        }
        while line.last == " " { line.removeLast() }
        return line
    }.joined(separator: "\n")
}
