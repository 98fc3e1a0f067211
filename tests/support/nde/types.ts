export interface ProbeInput { activityQueue: string; key: string }
export interface ProbeActivities { stepA(key: string): Promise<void>; stepB(key: string): Promise<void> }
