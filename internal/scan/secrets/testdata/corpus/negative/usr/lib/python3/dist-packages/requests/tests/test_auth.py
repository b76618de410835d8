URL = "https://alice:al4YCMwOpz5q@host.internal/"
