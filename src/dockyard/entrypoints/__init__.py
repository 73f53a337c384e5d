"""Entry points: the composition roots that wire services into their edges."""
