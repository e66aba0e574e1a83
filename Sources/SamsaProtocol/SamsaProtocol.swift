public enum SamsaProtocolVersion { public static let version = "0.1.0" }
