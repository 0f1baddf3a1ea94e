"""The peers' reporting: `PASS suite: name` / `FAIL suite: name: why` per check, and a last line
`RESULT passed=N failed=M` that `tests/peers/run` adds up."""

import sys
import traceback


class Checks:
    def __init__(self, suite):
        self.suite = suite
        self.passed = 0
        self.failed = 0

    def check(self, name):
        """Runs the decorated function at once, reporting every failure and going on."""

        def wrap(fn):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - report every failure and go on
                self.failed += 1
                print(f"FAIL {self.suite}: {name}: {type(e).__name__}: {e}")
                traceback.print_exc(limit=3, file=sys.stdout)
            else:
                self.passed += 1
                print(f"PASS {self.suite}: {name}")
            return fn

        return wrap

    def finish(self):
        print(f"RESULT passed={self.passed} failed={self.failed}")
        sys.exit(1 if self.failed else 0)
