from server.cli import main

main(prog_name="fullrecord")
