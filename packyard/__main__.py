from packyard.launch import main

main()
