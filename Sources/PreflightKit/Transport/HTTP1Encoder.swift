import NIOCore
import PreflightCore

/// The one HTTP/1.1 request encoder: the load path, the probe and the one-shot client all send through it.
///
/// It adds what belongs to HTTP/1.1 and not to the message: the request line with the target's base path, `Host`,
/// `Connection: close` when asked, and `Content-Length` (a POST, PUT or PATCH without a body says 0, as curl does).
enum HTTP1Encoder {
    /// Appends `request` as HTTP/1.1 to `buffer` and returns how many bytes it wrote.
    @discardableResult
    static func encode(_ request: PreparedRequest, target: TargetURL, into buffer: inout ByteBuffer) -> Int {
        let start = buffer.writerIndex
        let message = request.message
        buffer.writeString(message.method)
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(target.basePath)
        buffer.writeString(message.path)
        buffer.writeStaticString(" HTTP/1.1\r\nHost: ")
        buffer.writeString(target.hostHeader)
        buffer.writeStaticString("\r\n")
        for header in message.headers {
            buffer.writeString(header.name)
            buffer.writeStaticString(": ")
            buffer.writeString(header.value)
            buffer.writeStaticString("\r\n")
        }
        if request.closesConnection { buffer.writeStaticString("Connection: close\r\n") }
        if let body = message.body {
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(body.count))
            buffer.writeStaticString("\r\n\r\n")
            buffer.writeBytes(body)
        } else {
            switch message.method {
            case "POST", "PUT", "PATCH": buffer.writeStaticString("Content-Length: 0\r\n\r\n")
            default: buffer.writeStaticString("\r\n")
            }
        }
        return buffer.writerIndex - start
    }

    /// The request as HTTP/1.1 text (tests and the mock's byte count).
    static func encoded(_ request: PreparedRequest, target: TargetURL) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(request, target: target, into: &buffer)
        return buffer
    }
}
