import Foundation

/// The `data` block: inline values, CSV and JSON files.
extension Reader {
    package func dataFeeds(_ node: JSONNode) -> [DataFeed] {
        guard let obj = node.object(keys: objectKeys(node)) else { return [] }
        return obj.dict.keys.sorted().compactMap { name in
            let n = obj.optional(name)!
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }),
                !ScenarioLoader.builtinPlaceholders.contains(name)
            else {
                n.fail(
                    "\"\(name)\" is not a usable feed name",
                    hint: "use letters, digits, _ - . and not iteration or vu"
                )
                return nil
            }
            if case .array = n.value {
                return feedValues(n).map { DataFeed(name: name, values: $0.texts, types: $0.types, order: .sequential) }
            }
            guard let o = n.object(keys: ["values", "csv", "json", "column", "order"]) else { return nil }
            let sources = ["values", "csv", "json"].filter(o.has)
            guard sources.count == 1 else {
                n.fail(
                    sources.isEmpty
                        ? "needs one of values, csv or json" : "has \(sources.joined(separator: " and ")); give one",
                    hint: "e.g. {\"csv\": \"symbols.csv\", \"column\": \"symbol\"}"
                )
                return nil
            }
            let order = o.optional("order")?.oneOf(DataFeed.Order.self) ?? .sequential
            let column = o.optional("column")?.string()
            var values: (texts: [String], types: [ValueType])?
            if let v = o.optional("values") {
                values = feedValues(v)
            } else if let c = o.optional("csv"), let file = c.string() {
                values = readFile(file, node: c).flatMap {
                    csvColumn($0, column: column ?? name, explicit: column != nil, node: c)
                }.map {
                    ($0, $0.map(ValueType.inferred(from:)))
                }
            } else if let j = o.optional("json"), let file = j.string() {
                values = readFile(file, node: j).flatMap { jsonValues($0, node: j) }
            }
            guard let values else { return nil }
            return DataFeed(name: name, values: values.texts, types: values.types, order: order)
        }
    }

    /// Inline or JSON-file values keep their JSON types: `5` is a number, `"5"` a string.
    package func feedValues(_ node: JSONNode) -> (texts: [String], types: [ValueType])? {
        guard case .array(let items) = node.value else {
            node.fail("must be an array, got \(node.value.kindDescription)")
            return nil
        }
        if items.isEmpty {
            node.fail("must not be empty")
            return nil
        }
        // Millions of values: no node (and no path string) per item, only for an item that is wrong.
        var texts: [String] = []
        var types: [ValueType] = []
        texts.reserveCapacity(items.count)
        types.reserveCapacity(items.count)
        var ok = true
        for (n, item) in items.enumerated() {
            switch item {
            case .string(let s):
                types.append(.string)
                texts.append(s)
            case .number:
                types.append(.number)
                texts.append(item.textValue)
            case .bool:
                types.append(.bool)
                texts.append(item.textValue)
            default:
                diag.add("\(node.path)[\(n)]", "must be a string, number or boolean, got \(item.kindDescription)")
                ok = false
            }
        }
        return ok ? (texts, types) : nil
    }

    package func readFile(_ relative: String, node: JSONNode) -> Data? {
        let url =
            relative.hasPrefix("/")
            ? URL(fileURLWithPath: relative) : baseDirectory.appendingPathComponent(relative)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            node.fail("cannot read \(url.path)", hint: "paths are relative to the scenario file")
            return nil
        }
        return data
    }

    /// The values of `column`; a one-column file serves a feed by its own name, never a column named explicitly.
    package func csvColumn(_ data: Data, column: String, explicit: Bool = false, node: JSONNode) -> [String]? {
        let rows = CSV.parse(String(decoding: data, as: UTF8.self))
        guard let header = rows.first else {
            node.fail("the CSV file is empty")
            return nil
        }
        let index: Int
        if let i = header.firstIndex(of: column) {
            index = i
        } else if header.count == 1 && !explicit {
            index = 0
        } else {
            node.fail(
                "the CSV has no column \"\(column)\"",
                hint: "columns: \(header.joined(separator: ", ")); set \"column\""
            )
            return nil
        }
        let values = rows.dropFirst().compactMap { $0.indices.contains(index) ? $0[index] : nil }.filter { !$0.isEmpty }
        if values.isEmpty {
            node.fail("the CSV has no values in column \"\(header[index])\"")
            return nil
        }
        return values
    }

    package func jsonValues(_ data: Data, node: JSONNode) -> (texts: [String], types: [ValueType])? {
        guard let doc = try? JSONValue.parse(data) else {
            node.fail("the file is not valid JSON")
            return nil
        }
        return feedValues(JSONNode(value: doc, path: node.path, diag: diag))
    }
}

/// A small RFC 4180 reader: quoted fields, doubled quotes, CRLF or LF.
package enum CSV {
    package static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.makeIterator()
        var pending: Character?
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" {
                            field.append("\"")
                        } else {
                            quoted = false
                            pending = next
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                row.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                row.append(field)
                field = ""
                if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
                row = []
            } else {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows.map { $0.map { $0.trimmingCharacters(in: .whitespaces) } }
    }
}
