from packyard.cli.main import main

main()
