// Path components from callers: `VolumeDirectoryName` (the global mount directory and journal
// key), `QualifiedName` (plugin names) and `VolumeNames` (volume names, pod UIDs), each against
// the rule it restates (Kubernetes'); an accepted name stays one path component.
import KRBD
import RBDVolume
import SystemPackage

enum PathsFuzz {
    static func run(_ input: FuzzInput) {
        let text = input.text
        let volumeName = (try? VolumeNames.validateVolumeName(text)) != nil
        require(
            volumeName == isDNS1123Label(text),
            "validateVolumeName says \(volumeName) for \(quoted(text)); DNS-1123 says \(!volumeName)")
        let podUID = (try? VolumeNames.validatePodUID(text)) != nil
        require(podUID == isPodUID(text), "validatePodUID says \(podUID) for \(quoted(text))")
        if volumeName || podUID {
            // An accepted name joined to a directory stays one level below it.
            let base: FilePath = "/var/lib/kubelet/pods"
            let joined = base.appending(text)
            require(
                joined.removingLastComponent() == base && joined.lastComponent?.string == text,
                "the accepted name \(quoted(text)) joins as \(joined)")
        }
        do {
            try VolumeNames.validateVolumeName(text)
            try VolumeNames.validatePodUID(text)
        } catch {
            requirePrintable(error, input: text)
        }
        let violations = QualifiedName.violations(text)
        require(
            violations.isEmpty == isQualifiedName(text),
            "QualifiedName says \(violations) for \(quoted(text)); apimachinery says \(isQualifiedName(text))")
        directoryName(input)
    }

    /// pool, namespace, image, snapshot cut at NUL: encode is the documented layout (or its
    /// hashed form), fits NAME_MAX with room, and decodes back to the components.
    static func directoryName(_ input: FuzzInput) {
        let fields = input.fields(0, count: 4)
        guard fields.count >= 3 else { return }
        let (pool, image) = (fields[0], fields[2])
        let namespace = fields[1].isEmpty ? nil : fields[1]
        let snapshot = fields.count > 3 ? fields[3] : nil
        let name = VolumeDirectoryName.encode(pool: pool, namespace: namespace, image: image, snapshot: snapshot)
        let shown = "\(fields.map(quoted)) → \(quoted(name))"
        require(name.utf8.count <= VolumeDirectoryName.maximumLength, "\(shown) is too long")
        require(!name.utf8.contains(UInt8(ascii: "/")), "\(shown) holds a '/'")
        var layout = escape(pool, strict: true)
        if let namespace { layout += "-ns-" + escape(namespace, strict: true) }
        layout += "-image-" + escape(image, strict: false)
        if let snapshot { layout += "@" + escape(snapshot, strict: false) }
        if layout.utf8.count <= VolumeDirectoryName.maximumLength {
            require(name == layout, "\(shown): the layout is \(quoted(layout))")
            // Only a name that ends like the hashed form (documented) does not decode.
            guard !pool.isEmpty, !image.isEmpty, !looksHashed(name) else { return }
            let decoded = VolumeDirectoryName.decode(name)
            require(
                decoded.map { $0 == (pool, namespace, image, snapshot) } ?? false,
                "\(shown) decodes to \(String(describing: decoded))")
        } else {
            // A readable prefix of the layout, cut outside an escape, then `~h` and 16 hex digits.
            let prefix = String(decoding: name.utf8.dropLast(18), as: UTF8.self)
            require(
                looksHashed(name) && layout.hasPrefix(prefix) && !endsInsideEscape(prefix),
                "\(shown) is not a hashed form of \(quoted(layout))")
            require(VolumeDirectoryName.decode(name) == nil, "\(shown) is hashed but decodes")
        }
        if (try? ImageSpec(pool: pool, namespace: namespace, image: image, snapshot: snapshot)) != nil {
            let base: FilePath = "/var/lib/kubelet/plugins/kubernetes.io/rbd/mounts"
            let joined = base.appending(name)
            require(
                joined.removingLastComponent() == base && joined.lastComponent?.string == name,
                "\(shown): a valid spec's name is not one path component")
        }
    }

    /// The layout's escaping, restated from VolumeDirectoryName's documentation.
    static func escape(_ text: String, strict: Bool) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "%": out += "%25"
            case "/": out += "%2F"
            case "@": out += "%40"
            case "-" where strict: out += "%2D"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func endsInsideEscape(_ prefix: String) -> Bool {
        prefix.utf8.suffix(2).contains(UInt8(ascii: "%"))
    }

    /// `~h` and 16 lowercase hex digits at the end.
    static func looksHashed(_ name: String) -> Bool {
        let suffix = name.utf8.suffix(18)
        return suffix.count == 18 && suffix.starts(with: "~h".utf8)
            && suffix.dropFirst(2).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// A DNS-1123 label: 1–63 of `[a-z0-9-]`, starting and ending with a letter or digit.
    static func isDNS1123Label(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func alnum(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x61...0x7A).contains(c) }
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 63, alnum(first), alnum(last) else {
            return false
        }
        return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// A pod UID as the plugin takes it: 1–64 of `[A-Za-z0-9_-]`, starting with a letter or digit.
    static func isPodUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func alnum(_ c: UInt8) -> Bool {
            (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
        }
        guard let first = bytes.first, bytes.count <= 64, alnum(first) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    /// apimachinery's IsQualifiedName, restated byte by byte: `[prefix/]name`, the prefix a
    /// DNS-1123 subdomain (≤ 253), the name ≤ 63 of `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
    static func isQualifiedName(_ text: String) -> Bool {
        let parts = Array(text.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        func alnum(_ c: UInt8) -> Bool {
            (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
        }
        func lowerAlnum(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x61...0x7A).contains(c) }
        func isName(_ s: ArraySlice<UInt8>) -> Bool {
            guard let first = s.first, let last = s.last, s.count <= 63, alnum(first), alnum(last) else { return false }
            return s.allSatisfy {
                alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
            }
        }
        func isSubdomain(_ s: ArraySlice<UInt8>) -> Bool {
            guard !s.isEmpty, s.count <= 253 else { return false }
            return s.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
                guard let first = label.first, let last = label.last, lowerAlnum(first), lowerAlnum(last) else {
                    return false
                }
                return label.allSatisfy { lowerAlnum($0) || $0 == UInt8(ascii: "-") }
            }
        }
        switch parts.count {
        case 1: return isName(parts[0])
        case 2: return isSubdomain(parts[0]) && isName(parts[1])
        default: return false
        }
    }
}
