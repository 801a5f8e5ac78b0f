"""A stand-in OpenTelemetry collector for `make bench`: accepts OTLP/HTTP exports on 4318 and
drops them, answering as a collector does (200, an empty protobuf response), so the traced app
pays for building and exporting its spans and nothing else."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return  # one line per export would only cost the sink CPU


ThreadingHTTPServer(("", 4318), Sink).serve_forever()
