"""The experiments as importable code, one folder per topic (`sentiment`, `next_word`, `lecture`, `memory`,
`performance`); `command` (flags from config dataclasses) and `plots` are shared."""
