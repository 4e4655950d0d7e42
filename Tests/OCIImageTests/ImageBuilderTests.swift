import Crypto
import Foundation
import Testing
@testable import OCIImage

/// One entry read back from a tar stream.
struct TarEntry: Equatable {
    var path: String
    var typeflag: Character
    var mode: UInt32
    var uid: Int
    var gid: Int
    var mtime: UInt64
    var linkname: String
    var content: [UInt8]
}

/// A minimal tar reader for checking the builder's output: ustar headers, PAX `path`/`linkpath`,
/// checksum verification. Independent of the writer's code.
func readTar(_ bytes: [UInt8]) throws -> [TarEntry] {
    struct Malformed: Error, CustomStringConvertible { var description: String }
    func field(_ block: ArraySlice<UInt8>, _ offset: Int, _ length: Int) -> String {
        let start = block.startIndex + offset
        let raw = block[start..<(start + length)]
        return String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    func octal(_ text: String) -> UInt64 { UInt64(text.trimmingCharacters(in: .whitespaces), radix: 8) ?? 0 }
    var entries: [TarEntry] = []
    var offset = 0
    var pax: [String: String] = [:]
    while offset + 512 <= bytes.count {
        let block = bytes[offset..<(offset + 512)]
        if block.allSatisfy({ $0 == 0 }) { break }
        var sum = 0
        for (i, b) in block.enumerated() { sum += (148..<156).contains(i) ? 32 : Int(b) }
        guard octal(field(block, 148, 8)) == UInt64(sum) else { throw Malformed(description: "bad checksum at \(offset)") }
        let size = Int(octal(field(block, 124, 12)))
        let typeflag = Character(UnicodeScalar(block[block.startIndex + 156]))
        let data = Array(bytes[(offset + 512)..<(offset + 512 + size)])
        offset += 512 + (size + 511) / 512 * 512
        if typeflag == "x" {
            var text = Substring(String(decoding: data, as: UTF8.self))
            while let space = text.firstIndex(of: " "), let length = Int(text[..<space]) {
                let record = text.utf8.prefix(length)
                let body = String(decoding: record.dropFirst(text.distance(from: text.startIndex, to: space) + 1).dropLast(), as: UTF8.self)
                if let eq = body.firstIndex(of: "=") { pax[String(body[..<eq])] = String(body[body.index(after: eq)...]) }
                text = text.dropFirst(String(decoding: record, as: UTF8.self).count)
            }
            continue
        }
        entries.append(TarEntry(
            path: pax["path"] ?? field(block, 0, 100), typeflag: typeflag, mode: UInt32(octal(field(block, 100, 8))),
            uid: Int(octal(field(block, 108, 8))), gid: Int(octal(field(block, 116, 8))), mtime: octal(field(block, 136, 12)),
            linkname: pax["linkpath"] ?? field(block, 157, 100), content: data))
        pax = [:]
    }
    return entries
}

func sha256(_ bytes: [UInt8]) -> String {
    "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

func json(_ bytes: [UInt8]) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
}

@Suite struct ImageBuilderTests {
    struct Fixture {
        let dir: TemporaryDirectory
        let spec: ImageSpec

        init(busyboxBytes: String = "#!fake busybox\n", mtime: UInt64 = 0) throws {
            dir = try TemporaryDirectory()
            let binary = try dir.write("busybox", busyboxBytes, mode: 0o755)
            let passwd = try dir.write("passwd", "root:x:0:0:root:/root:/bin/sh\n")
            let longName = "/opt/" + String(repeating: "deep/", count: 25) + "file"
            let contents = try LayerContents([
                .file(source: binary, path: "/bin/busybox"),
                .file(source: passwd, path: "/etc/passwd"),
                .symlink(path: "/bin/sh", target: "busybox"),
                .directory(path: "/tmp", mode: 0o1777),
                .file(source: passwd, path: longName, mode: 0o600),
            ])
            spec = ImageSpec(
                reference: try ImageReference(parsing: "nodekit/busybox"), contents: contents,
                config: ImageConfig(entrypoint: nil, cmd: ["sh"], env: ["PATH=/bin"], workingDir: "/"), mtime: mtime)
        }

        func build(_ name: String = "image.tar") throws -> (BuiltImage, [UInt8]) {
            let output = dir.path + "/" + name
            let built = try ImageBuilder().build(spec, output: output)
            return (built, Array(try Data(contentsOf: URL(fileURLWithPath: output))))
        }
    }

    @Test func sameInputGivesSameBytesAndDigests() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        let (first, firstBytes) = try fixture.build("a.tar")
        let (second, secondBytes) = try fixture.build("b.tar")
        #expect(first.manifest == second.manifest)
        #expect(first.layer.digest == second.layer.digest)
        #expect(firstBytes == secondBytes)
    }

    @Test func changedContentOrMtimeChangesDigests() throws {
        let base = try Fixture()
        let otherContent = try Fixture(busyboxBytes: "#!fake busybox 2\n")
        let otherTime = try Fixture(mtime: 1_700_000_000)
        defer { base.dir.remove(); otherContent.dir.remove(); otherTime.dir.remove() }
        let digests = try [base, otherContent, otherTime].map { try $0.build().0.layer.digest }
        #expect(Set(digests).count == 3)
    }

    @Test func layoutHasOCIShapeAndConsistentDigests() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        let (built, bytes) = try fixture.build()
        let entries = try readTar(bytes)
        let blobNames = [built.config.digest, built.manifest.digest, built.layer.digest].sorted().map { "blobs/sha256/" + $0.dropFirst(7) }
        #expect(entries.map(\.path) == ["oci-layout", "index.json", "blobs/", "blobs/sha256/"] + blobNames)
        var files: [String: [UInt8]] = [:]
        for entry in entries {
            #expect(entry.uid == 0 && entry.gid == 0 && entry.mtime == 0)
            files[entry.path] = entry.content
            if entry.path.hasPrefix("blobs/sha256/") && entry.typeflag == "0" {
                #expect(sha256(entry.content) == "sha256:" + entry.path.dropFirst("blobs/sha256/".count), "blob \(entry.path) has the wrong digest")
            }
        }

        #expect(try json(files["oci-layout"]!) as NSDictionary == ["imageLayoutVersion": "1.0.0"])

        let index = try json(files["index.json"]!)
        #expect(index["schemaVersion"] as? Int == 2)
        #expect(index["mediaType"] as? String == "application/vnd.oci.image.index.v1+json")
        let manifests = try #require(index["manifests"] as? [[String: Any]])
        #expect(manifests.count == 1)
        #expect(manifests[0]["mediaType"] as? String == "application/vnd.oci.image.manifest.v1+json")
        #expect(manifests[0]["digest"] as? String == built.manifest.digest)
        #expect(manifests[0]["size"] as? Int == files["blobs/sha256/" + built.manifest.digest.dropFirst(7)]?.count)
        #expect(manifests[0]["annotations"] as? NSDictionary == [
            "io.containerd.image.name": "docker.io/nodekit/busybox:latest",
            "org.opencontainers.image.ref.name": "latest",
        ])
        #expect(manifests[0]["platform"] as? NSDictionary == ["architecture": "amd64", "os": "linux"])

        let manifest = try json(files["blobs/sha256/" + built.manifest.digest.dropFirst(7)]!)
        #expect(manifest["schemaVersion"] as? Int == 2)
        #expect(manifest["mediaType"] as? String == "application/vnd.oci.image.manifest.v1+json")
        let config = try #require(manifest["config"] as? [String: Any])
        #expect(config["mediaType"] as? String == "application/vnd.oci.image.config.v1+json")
        #expect(config["digest"] as? String == built.config.digest)
        let layers = try #require(manifest["layers"] as? [[String: Any]])
        #expect(layers.count == 1)
        #expect(layers[0]["mediaType"] as? String == "application/vnd.oci.image.layer.v1.tar")
        #expect(layers[0]["digest"] as? String == built.layer.digest)
        #expect(layers[0]["size"] as? Int == files["blobs/sha256/" + built.layer.digest.dropFirst(7)]?.count)

        let imageConfig = try json(files["blobs/sha256/" + built.config.digest.dropFirst(7)]!)
        #expect(imageConfig["architecture"] as? String == "amd64")
        #expect(imageConfig["os"] as? String == "linux")
        #expect(imageConfig["config"] as? NSDictionary == ["Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"])
        #expect(imageConfig["rootfs"] as? NSDictionary == ["type": "layers", "diff_ids": [built.layer.digest]])
    }

    @Test func layerHoldsTheEntriesWithModesAndRootOwnership() throws {
        let fixture = try Fixture()
        defer { fixture.dir.remove() }
        let (built, bytes) = try fixture.build()
        let layerBytes = try #require(try readTar(bytes).first { $0.path == "blobs/sha256/" + built.layer.digest.dropFirst(7) }).content
        let layer = try readTar(layerBytes)
        let longName = "opt/" + String(repeating: "deep/", count: 25) + "file"
        var expectedPaths = ["bin/", "bin/busybox", "bin/sh", "etc/", "etc/passwd", "opt/"]
        var dir = "opt/"
        for _ in 0..<25 { dir += "deep/"; expectedPaths.append(dir) }
        expectedPaths += [longName, "tmp/"]
        #expect(layer.map(\.path) == expectedPaths)
        let byPath = Dictionary(uniqueKeysWithValues: layer.map { ($0.path, $0) })
        #expect(byPath["bin/busybox"]?.mode == 0o755)
        #expect(byPath["bin/busybox"]?.content == Array("#!fake busybox\n".utf8))
        #expect(byPath["bin/sh"]?.typeflag == "2")
        #expect(byPath["bin/sh"]?.linkname == "busybox")
        #expect(byPath["tmp/"]?.mode == 0o1777)
        #expect(byPath["tmp/"]?.typeflag == "5")
        #expect(byPath["etc/passwd"]?.mode == 0o644)
        #expect(byPath[longName]?.mode == 0o600)
        #expect(layer.allSatisfy { $0.uid == 0 && $0.gid == 0 })
    }

    @Test func missingSourceFailsAndLeavesNoFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let spec = ImageSpec(
            reference: try ImageReference(parsing: "nodekit/x"),
            contents: try LayerContents([.file(source: dir.path + "/absent", path: "/bin/x")]), config: ImageConfig())
        let error = #expect(throws: OCIImageError.self) { try ImageBuilder().build(spec, output: dir.path + "/out.tar") }
        #expect(error?.code == .missingSource)
        #expect(error?.message.contains(dir.path + "/absent") == true)
        #expect(error?.message.contains("/bin/x") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func directoryAsFileSourceIsRejected() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let spec = ImageSpec(
            reference: try ImageReference(parsing: "nodekit/x"),
            contents: try LayerContents([.file(source: dir.path, path: "/x")]), config: ImageConfig())
        let error = #expect(throws: OCIImageError.self) { try ImageBuilder().build(spec, output: dir.path + "/out.tar") }
        #expect(error?.code == .unsupportedFileType)
    }

    @Test func unwritableOutputIsAnIOError() throws {
        let spec = ImageSpec(reference: try ImageReference(parsing: "nodekit/x"), contents: try LayerContents([]), config: ImageConfig())
        let error = #expect(throws: OCIImageError.self) { try ImageBuilder().build(spec, output: "/nonexistent-dir/out.tar") }
        #expect(error?.code == .io)
        #expect(error?.message.contains("/nonexistent-dir/out.tar") == true)
    }

    @Test func digestReferenceCannotNameABuild() throws {
        let spec = ImageSpec(
            reference: try ImageReference(parsing: "nodekit/x@sha256:" + String(repeating: "0", count: 64)),
            contents: try LayerContents([]), config: ImageConfig())
        let error = #expect(throws: OCIImageError.self) { try ImageBuilder().build(spec, output: "/tmp/never-written.tar") }
        #expect(error?.code == .badReference)
    }
}

@Suite struct ImageLayoutTests {
    @Test func configLeavesOutUnsetFieldsAndSortsKeys() throws {
        let bytes = try ImageLayout.configJSON(ImageConfig(entrypoint: ["/pause"]), diffIDs: ["sha256:aa"], architecture: "amd64", os: "linux")
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"{"architecture":"amd64","config":{"Entrypoint":["/pause"]},"os":"linux","rootfs":{"diff_ids":["sha256:aa"],"type":"layers"}}"#)
    }

    @Test func indexNamesTheImageBothWays() throws {
        let manifest = Descriptor(mediaType: MediaType.imageManifest, digest: "sha256:bb", size: 3, platform: .init(architecture: "amd64", os: "linux"))
        let bytes = try ImageLayout.indexJSON(manifest: manifest, reference: ImageReference(parsing: "localhost:5000/a/b:v2"))
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"{"manifests":[{"annotations":{"io.containerd.image.name":"localhost:5000/a/b:v2","org.opencontainers.image.ref.name":"v2"},"digest":"sha256:bb","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"amd64","os":"linux"},"size":3}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#)
    }
}
