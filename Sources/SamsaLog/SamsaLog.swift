public enum SamsaLogVersion { public static let version = "0.1.0" }
