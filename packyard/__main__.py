from packyard.cli import main

main()
