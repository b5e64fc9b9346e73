# Shortcuts; the README's commands are the source of truth.
.PHONY: test bench bench-quick main
test:
	bash scripts/test.sh
bench:
	bash scripts/bench.sh
bench-quick:
	bash scripts/bench.sh --quick
main:
	bash scripts/main.sh
