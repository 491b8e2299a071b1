@main
struct Krbd {
    static func main() {}
}
