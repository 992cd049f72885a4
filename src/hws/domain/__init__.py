"""Pure rules of the Hague exchange: no I/O, no framework, no database."""
