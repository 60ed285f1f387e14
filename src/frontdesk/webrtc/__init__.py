"""The browser front: "Talk to your receptionist", a real voice call over WebRTC (aiortc)."""
