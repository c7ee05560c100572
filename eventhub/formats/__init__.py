"""Date and time formats for the admin (settings.FORMAT_MODULE_PATH): to the second, since
retries a second apart must read apart."""
