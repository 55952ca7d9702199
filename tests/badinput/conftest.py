"""Print the bad-input tally ("handled X of Y per command") at the end of the test run."""

from .harness import summary


def pytest_terminal_summary(terminalreporter):
    text = summary()
    if text:
        terminalreporter.write_sep("-", "bad input")
        terminalreporter.write_line(text)
