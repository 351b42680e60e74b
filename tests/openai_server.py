"""A real HTTP server speaking OpenAI's POST /v1/chat/completions on 127.0.0.1, for tests and benchmarks.

It answers with schema-valid region JSON built from the request's findings (by the rule-based structurer), or, to a
GREEN judge prompt, with a GREEN-format assessment computed by our observation labeler (matched findings: the
observations both reports assert, or "no abnormality" when neither asserts any; (a) false and (b) missing findings:
those only one asserts). It can be told to
misbehave, per request (keyed by the last message's text): 429 with Retry-After, 500, a reply slower than the client's timeout, malformed
JSON, JSON that violates the schema, or an answer that drops, invents, duplicates or merges sentences.
"""

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from radreport.structuring.rules import REGIONS, split_sentences, structure

FAULTS = ("429", "500", "slow", "malformed", "schema", "drop", "invent", "duplicate", "merge")
GREEN_PROMPT = re.compile(r"2\. Reference Report:\n    (.*)\n\n    3\. Candidate Report:\n    (.*)\n\n    4\. Reporting",
                          re.DOTALL)


def green_answer(prompt: str, fault: str | None) -> str:
    from radreport.metrics.clinical import ClinicalMetrics

    if fault == "malformed":
        return "The candidate looks fine to me."
    reference, candidate = GREEN_PROMPT.search(prompt).groups()
    ref, hyp = ClinicalMetrics().asserted([reference, candidate])
    matched = sorted(ref & hyp) or (["no abnormality"] if not ref | hyp else [])
    false, missing = sorted(hyp - ref), sorted(ref - hyp)
    listing = lambda items: "; ".join(items) if items else "none"  # noqa: E731
    return (f"[Explanation]:\nCompared the findings each report asserts.\n\n[Clinically Significant Errors]:\n"
            f"(a) False report of a finding in the candidate: {len(false)}. {listing(false)}\n"
            f"(b) Missing a finding present in the reference: {len(missing)}. {listing(missing)}\n"
            "(c) Misidentification of a finding's anatomic location/position: 0.\n"
            "(d) Misassessment of the severity of a finding: 0.\n"
            "(e) Mentioning a comparison that isn't in the reference: 0.\n"
            "(f) Omitting a comparison detailing a change from a prior study: 0.\n\n"
            "[Clinically Insignificant Errors]:\n(a) False report of a finding in the candidate: 0.\n\n"
            f"[Matched Findings]:\n{len(matched)}. {listing(matched)}\n")


def answer(findings: str, fault: str | None) -> str:
    regions = structure(findings)
    placed = [(r, s) for r in REGIONS for s in regions[r]]
    if fault == "drop" and placed:
        region, sentence = placed[0]
        regions[region].remove(sentence)
    elif fault == "invent":
        regions["others"].append("The liver is enlarged.")
    elif fault == "duplicate" and placed:
        regions["others"].append(placed[0][1])
    elif fault == "merge" and len(split_sentences(findings)) > 1:
        regions = {r: [] for r in REGIONS}
        regions["lung"] = [findings]
    elif fault == "malformed":
        return '{"lung": ["unterminated'
    elif fault == "schema":
        return json.dumps({"lungs": regions["lung"], "heart": "not a list"})
    return json.dumps(regions)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle + delayed ACK would add ~40 ms
    server: "FakeOpenAIServer"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        findings = body["messages"][-1]["content"]
        fault = self.server.record(self.headers, body, findings)
        time.sleep(self.server.latency_s)
        if self.server.redirect_to:
            return self.reply(307, {}, {"Location": self.server.redirect_to + self.path})
        try:
            if fault == "429":
                return self.reply(429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                                  {"Retry-After": str(self.server.retry_after_s)})
            if fault == "500":
                return self.reply(500, {"error": {"message": "boom", "type": "server_error"}})
            if fault == "slow":
                time.sleep(self.server.slow_s)
            content = green_answer(findings, fault) if GREEN_PROMPT.search(findings) else answer(findings, fault)
            self.reply(200, {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                             "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def reply(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class FakeOpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, latency_s: float = 0.0, slow_s: float = 2.0, retry_after_s: float = 0.05):
        super().__init__(("127.0.0.1", 0), Handler)
        self.latency_s, self.slow_s, self.retry_after_s = latency_s, slow_s, retry_after_s
        self.redirect_to: str | None = None  # answer every request with a 307 to this origin
        self.plan: dict[str, deque] = {}   # findings text -> faults for its next requests
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def record(self, headers, body: dict, findings: str) -> str | None:
        with self.lock:
            self.requests.append({"authorization": headers.get("Authorization", ""), "body": body})
            faults = self.plan.get(findings)
            return faults.popleft() if faults else None

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def main() -> None:
    """Serve in this process until killed: `python -m tests.openai_server --latency 0.05` prints the base URL."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeOpenAIServer(latency_s=args.latency)
    print(server.base_url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
