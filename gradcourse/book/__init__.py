"""The bilingual book: build, mirror checks and the language switcher."""
