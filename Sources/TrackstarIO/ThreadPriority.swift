// The calling thread's CPU priority, for loops that serve operators rather than traffic (the admin
// listener's): Linux keeps a nice value per thread, so one loop can yield to the others.
import CTrackstarIOShims

/// The calling thread's scheduling priority.
public enum ThreadPriority {
    /// Sets the calling thread's nice value (higher yields more); best effort, false when refused.
    @discardableResult
    public static func setCurrentThreadNice(_ niceness: Int32) -> Bool { ts_io_set_thread_nice(niceness) == 0 }
}
