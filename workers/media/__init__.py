"""Media tools for the workers: ffprobe parsing, ffmpeg command lines and running them."""
