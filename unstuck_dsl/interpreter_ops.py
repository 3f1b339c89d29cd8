"""The table interpreter's operation codes: the vocabulary in which codegen.py writes a large
program's tables and interpreter.py reads them. Kept apart from the interpreter's numba code, so
that building tables (and compiling rules) does not load numba."""

# Test operations (column `OP` of a test row). A row is (instruction, op, a, b, c):
# a comparison reads the constant a; a list reads the constants a .. a + b - 1; a lookup table
# is number a; c is 1 for a set test on an open set.
EQ, NE, LT, LE, GT, GE, ALWAYS, NEVER, MEMBER, KNOWN, UNKNOWN, LUT, HAS_ANY, HAS_ALL = range(14)
COMPARISONS = {"==": EQ, "!=": NE, "<": LT, "<=": LE, ">": GT, ">=": GE, "always": ALWAYS, "never": NEVER}
DST, OP, A, B, C = range(5)

# Logic rows: (instruction, op, first argument, argument count), arguments in `logic_args`.
NOT, AND, OR = range(3)

# Parameter rows: (instruction, mode, threshold, slot); rule rows: (rule index, first parameter,
# parameter count). A filter passes when its value >= threshold, an exclude when value < threshold.
FILTER, EXCLUDE, SCORE = range(3)
