"""Benchmarks, run by `make bench` (python -m bench <command>): see `python -m bench --help`.

Each command works in a database of its own, `<DATABASE_URL's database>_bench`, created on
first use and migrated; the development database is never touched. Results are printed and
written under bench/results/ (not committed).
"""
