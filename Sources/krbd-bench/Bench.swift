// Placeholder: the benchmark command is being written.
@main
struct Bench {
    static func main() {}
}
