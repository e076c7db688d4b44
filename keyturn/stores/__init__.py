"""Storage engines behind the ``UserStore`` / ``SessionStore`` seams."""
