"""Survivability: the workload's history and the pure checkers that judge it.

    history.py       operations (Jepsen's invoke / ok / fail / info), the history.jsonl writer,
                     a streaming reader that checks every line, invokes paired with completions
    verdict.py       Verdict: check, outcome (passed / failed / aborted), value, unit, threshold

Nothing here talks to a database, a cloud or the lab.
"""
