"""One file per schema revision after the baseline; never edit a released one."""
