fn main() {
    println!("lab: placeholder");
}
