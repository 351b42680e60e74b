"""The regular expressions (`pattern`) of a JSON schema, checked before the constrained decoder meets them.

lm-format-enforcer compiles a pattern into a DFA (interegular) when generation first reaches its string, inside the
worker that holds the model. Subset construction can grow exponentially: `(a|b)*a(a|b){18}` is 2^19 states and
hours of one core. So every pattern is compiled here first, as the decoder will compile it, in a child process killed
at a deadline and refused past a state count; the decoder's own compile of an accepted pattern is then as bounded.
Patterns it cannot honour (back-references, look-arounds, anchors inside) are refused rather than left unenforced.

    python -m radreport.inference.patterns    reads a JSON list of patterns, writes {"refusal": why or null}
"""

import asyncio
import hashlib
import json
import os
import sys

MAX_CHARS = 500
MAX_STATES = 2_000  # (a|b)*a(a|b){10}: 2,049 states, 0.2 s; each repetition doubles the states, ~x4 the time
TIMEOUT_S = 3.0  # all of a schema's patterns, child start included
MAX_CHECKS = 2  # child processes at once
MEMORY_BYTES = 1 << 30  # the child's address space


class ChecksBusy(Exception):
    """MAX_CHECKS children are already compiling."""


def pattern_strings(schema) -> list[dict]:
    """Every (sub)schema with a string `pattern`, walked without recursion (a schema may nest deeply)."""
    found, stack = [], [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def decoder_pattern(pattern: str) -> str:
    """The pattern as lm-format-enforcer compiles it: the whole string must match, so it drops a leading ^ and a
    trailing $."""
    return pattern.removeprefix("^").removesuffix("$")


def has_lookaround(parsed) -> bool:
    from interegular.patterns import _NonCapturing  # interegular's look-ahead/look-behind node

    stack = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, _NonCapturing):
            return True
        stack.extend([*getattr(node, "options", ()), *getattr(node, "parts", ())])
        stack.extend(child for child in (getattr(node, "base", None),) if child is not None)
    return False


def compile_refusal(patterns: list[str]) -> str | None:
    """Compile each pattern as the decoder will; why the first that cannot be enforced is refused, or None. The
    reasons name the pattern by its place, never quote it."""
    import interegular

    for number, pattern in enumerate(patterns, start=1):
        where = f"pattern {number} of {len(patterns)}"
        try:
            parsed = interegular.parse_pattern(decoder_pattern(pattern))
            if has_lookaround(parsed):
                return f"{where} uses a look-ahead or look-behind, which constrained decoding cannot enforce"
            states = len(parsed.to_fsm().states)
        except Exception as error:  # noqa: BLE001 - interegular raises several types for what it cannot compile
            return (f"{where} cannot be enforced by constrained decoding ({type(error).__name__}: back-references, "
                    "look-arounds, anchors inside the pattern and some escapes are not supported)")
        if states > MAX_STATES:
            return f"{where} compiles to {states} states; the limit is {MAX_STATES}"
    return None


def child_environment() -> dict:
    """This process's environment, with its import path: the child imports the radreport this process runs."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


class PatternCheck:
    """Checks schemas' patterns in child processes: at most MAX_CHECKS at once (ChecksBusy past it), requests with
    the same patterns sharing one check, the last verdicts remembered so a client repeating its schema pays once."""

    def __init__(self, timeout_s: float = TIMEOUT_S, remembered: int = 256):
        self.timeout_s, self.remembered = timeout_s, remembered
        self.verdicts: dict[bytes, str | None] = {}
        self.checking: dict[bytes, asyncio.Future] = {}

    async def refusal(self, schema: dict) -> str | None:
        """Why the schema's patterns cannot be enforced, or None (at once for a schema without patterns)."""
        strings = pattern_strings(schema)
        patterns = [s["pattern"] for s in strings]
        if not patterns:
            return None
        if any("minLength" in s or "maxLength" in s for s in strings):
            return "a string with a pattern cannot also have minLength or maxLength under constrained decoding"
        too_long = [n for n, p in enumerate(patterns, start=1) if len(p) > MAX_CHARS]
        if too_long:
            return f"pattern {too_long[0]} of {len(patterns)} is over {MAX_CHARS} characters"
        key = hashlib.sha256(json.dumps(patterns).encode()).digest()
        if key in self.verdicts:
            return self.verdicts[key]
        if key not in self.checking:
            if len(self.checking) >= MAX_CHECKS:
                raise ChecksBusy
            self.checking[key] = asyncio.ensure_future(self.remembered_check(key, patterns))
        return await asyncio.shield(self.checking[key])  # a request that goes away leaves the check to the others

    async def remembered_check(self, key: bytes, patterns: list[str]) -> str | None:
        try:
            verdict = await self.compiled_apart(patterns)
        finally:
            del self.checking[key]
        if len(self.verdicts) >= self.remembered:
            del self.verdicts[next(iter(self.verdicts))]
        self.verdicts[key] = verdict
        return verdict

    async def compiled_apart(self, patterns: list[str]) -> str | None:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=child_environment())
        try:
            out, _ = await asyncio.wait_for(child.communicate(json.dumps(patterns).encode()), self.timeout_s)
        except asyncio.TimeoutError:
            return f"the schema's patterns take over {self.timeout_s:g} s to compile for constrained decoding"
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        if child.returncode != 0:
            return f"the schema's patterns did not compile within {MEMORY_BYTES >> 20} MB for constrained decoding"
        return json.loads(out)["refusal"]


def main() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    print(json.dumps({"refusal": compile_refusal(json.load(sys.stdin))}))


if __name__ == "__main__":
    main()
