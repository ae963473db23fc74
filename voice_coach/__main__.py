from voice_coach.entry import main

if __name__ == "__main__":
    main()
